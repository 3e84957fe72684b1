"""Files in storage as a whole: which rows reference which keys, deferred deletes, fsck, migration."""
