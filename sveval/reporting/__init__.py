"""What people read: markdown reports, DET and APE plots, systems read from score folders."""
