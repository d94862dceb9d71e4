"""State boundaries and name-to-code lookups for the US (USPS) and Mexico (INEGI CVE_ENT)."""
