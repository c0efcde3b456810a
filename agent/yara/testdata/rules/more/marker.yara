// A made-up marker, in hex and as text, to test matching on bytes.
rule Herd_Test_Marker
{
    strings:
        $hex = { 48 45 52 44 ?? 54 45 53 54 }
        $text = "herd-yara-marker" nocase
    condition:
        any of them
}

// Small files that start like a Windows executable.
rule Herd_Test_TinyMZ
{
    condition:
        uint16(0) == 0x5A4D and filesize < 1KB
}
