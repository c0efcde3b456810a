package herd

// EICAR is the standard anti-malware test file (www.eicar.org): harmless,
// detected by every product so that people can check their protection works.
const EICAR = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// EICAR's digests and threat name.
const (
	EICARSHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
	EICARSHA1   = "3395856ce81f2b7382dee72602f798b642f14140"
	EICARMD5    = "44d88612fea8a8f36de82e1278abb02f"
	EICARThreat = "EICAR-Test-File"
)

// BuiltinRecords returns the verdicts every Herd cloud and agent ships with:
// the EICAR test file under each of its hashes, flagged as a test verdict.
func BuiltinRecords() []Record {
	var rs []Record
	for _, o := range []Object{{KindSHA256, EICARSHA256}, {KindSHA1, EICARSHA1}, {KindMD5, EICARMD5}} {
		rs = append(rs, Record{Object: o, Verdict: VerdictMalicious, Threat: EICARThreat, Source: SourceBuiltin, Test: true})
	}
	return rs
}
