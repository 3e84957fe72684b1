"""Backup and restore of a whole instance: every table's rows and every media object in one archive."""
