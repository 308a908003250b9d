"""storepipe tests, mirroring storepipe/."""
