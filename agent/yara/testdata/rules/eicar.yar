// The EICAR anti-malware test file (www.eicar.org), harmless.
rule Herd_Test_EICAR
{
    meta:
        description = "EICAR test file"
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        $eicar at 0
}
