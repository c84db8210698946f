import GRDB

/// The catalog's versioned migrations. Never edit a shipped migration: add one.
enum Schema {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE backup (
                    idx INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused
                    path TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL UNIQUE,
                    grp INTEGER NOT NULL DEFAULT 0,
                    stored_away INTEGER NOT NULL DEFAULT 0,
                    object TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    mode INTEGER NOT NULL,
                    mtime_ns INTEGER NOT NULL,
                    created REAL NOT NULL,
                    updated REAL NOT NULL,
                    next_version INTEGER NOT NULL DEFAULT 1,
                    -- what the original looked like when last read: a snapshot
                    -- skips files whose size, mtime, ctime and inode are unchanged
                    src_dev INTEGER, src_ino INTEGER, src_size INTEGER,
                    src_mtime_ns INTEGER, src_ctime_ns INTEGER
                );
                CREATE TABLE version (
                    backup INTEGER NOT NULL REFERENCES backup(idx) ON DELETE CASCADE,
                    idx INTEGER NOT NULL,
                    object TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    mode INTEGER NOT NULL,
                    mtime_ns INTEGER NOT NULL,
                    comment TEXT NOT NULL DEFAULT '',
                    time REAL NOT NULL,
                    PRIMARY KEY (backup, idx)
                );
                CREATE TABLE field (
                    name TEXT PRIMARY KEY,
                    type TEXT NOT NULL CHECK (type IN ('d', 'g'))
                );
                CREATE TABLE field_value (
                    field TEXT NOT NULL REFERENCES field(name) ON DELETE CASCADE,
                    owner INTEGER NOT NULL,     -- backup index ('d') or group id ('g')
                    kind TEXT NOT NULL CHECK (kind IN ('s', 'i', 'n', 'b')),
                    value,
                    PRIMARY KEY (field, owner)
                );
                CREATE TABLE bhook (
                    slot INTEGER PRIMARY KEY CHECK (slot BETWEEN 1 AND 10),
                    code TEXT NOT NULL
                );
                CREATE TABLE routine (name TEXT PRIMARY KEY, code TEXT NOT NULL);
                CREATE TABLE setting (key TEXT PRIMARY KEY, value);
                CREATE TABLE snapshot (
                    sid TEXT PRIMARY KEY,
                    profile INTEGER NOT NULL,
                    time REAL NOT NULL,
                    status TEXT NOT NULL
                );
                CREATE TABLE snapshot_entry (
                    sid TEXT NOT NULL REFERENCES snapshot(sid) ON DELETE CASCADE,
                    backup INTEGER NOT NULL REFERENCES backup(idx) ON DELETE CASCADE,
                    version INTEGER NOT NULL,
                    PRIMARY KEY (sid, backup)
                );
                CREATE INDEX snapshot_entry_version ON snapshot_entry(backup, version);
                """)
        }
        // A backup's own fields (show, backup(i), delbu) were found by scanning
        // every field value: the primary key starts with the field's name.
        m.registerMigration("v2: field values by owner") { db in
            try db.execute(sql: "CREATE INDEX field_value_owner ON field_value(owner)")
        }
        // What rsync -a and restic keep besides data: a file's owner (given
        // back when restoring as root) and extended attributes; and in a
        // snapshot's tree, which files are hard links of each other, symbolic
        // links as what they say, and folders, empty ones too, each with its
        // mtime and owner (and a folder its mode and extended attributes). Links and folders have no
        // data: neither is a backup. What was stored before has no owner (NULL).
        m.registerMigration("v3: owners, snapshot links and folders") { db in
            try db.execute(sql: """
                ALTER TABLE backup ADD COLUMN uid INTEGER;
                ALTER TABLE backup ADD COLUMN gid INTEGER;
                ALTER TABLE version ADD COLUMN uid INTEGER;
                ALTER TABLE version ADD COLUMN gid INTEGER;
                ALTER TABLE backup ADD COLUMN xattrs BLOB;    -- ExtendedAttributes.encoded; NULL: none
                ALTER TABLE version ADD COLUMN xattrs BLOB;
                -- files of one snapshot hard-linked to each other share a number
                -- (one of their backup indices); NULL for a file with no other link in the tree
                ALTER TABLE snapshot_entry ADD COLUMN hardlink INTEGER;
                CREATE TABLE snapshot_link (
                    sid TEXT NOT NULL REFERENCES snapshot(sid) ON DELETE CASCADE,
                    path TEXT NOT NULL,
                    target TEXT NOT NULL,
                    mtime_ns INTEGER NOT NULL,
                    uid INTEGER NOT NULL,
                    gid INTEGER NOT NULL,
                    PRIMARY KEY (sid, path)
                );
                CREATE TABLE snapshot_folder (
                    sid TEXT NOT NULL REFERENCES snapshot(sid) ON DELETE CASCADE,
                    path TEXT NOT NULL,
                    mode INTEGER NOT NULL,
                    mtime_ns INTEGER NOT NULL,
                    uid INTEGER NOT NULL,
                    gid INTEGER NOT NULL,
                    xattrs BLOB,
                    PRIMARY KEY (sid, path)
                );
                """)
        }
        // Names are bytes (design.md, "Names are bytes"): paths, backup names and link targets
        // become BLOBs, compared with memcmp and read back without a UTF-8
        // decoder repairing them. SQLite changes no column's type in place,
        // so the three tables are made again (foreign keys are off while a
        // migration runs) and the backups' AUTOINCREMENT counter is carried over:
        // a deleted backup's index is never given again.
        m.registerMigration("v4: names are bytes") { db in
            try db.execute(sql: """
                CREATE TABLE backup_v4 (
                    idx INTEGER PRIMARY KEY AUTOINCREMENT,
                    path BLOB NOT NULL UNIQUE,
                    name BLOB NOT NULL UNIQUE,
                    grp INTEGER NOT NULL DEFAULT 0,
                    stored_away INTEGER NOT NULL DEFAULT 0,
                    object TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    mode INTEGER NOT NULL,
                    mtime_ns INTEGER NOT NULL,
                    created REAL NOT NULL,
                    updated REAL NOT NULL,
                    next_version INTEGER NOT NULL DEFAULT 1,
                    src_dev INTEGER, src_ino INTEGER, src_size INTEGER,
                    src_mtime_ns INTEGER, src_ctime_ns INTEGER,
                    uid INTEGER, gid INTEGER, xattrs BLOB
                );
                INSERT INTO backup_v4 SELECT idx, CAST(path AS BLOB), CAST(name AS BLOB), grp, stored_away, object, size, mode,
                    mtime_ns, created, updated, next_version, src_dev, src_ino, src_size, src_mtime_ns, src_ctime_ns, uid, gid, xattrs
                    FROM backup;
                DELETE FROM sqlite_sequence WHERE name = 'backup_v4';
                INSERT INTO sqlite_sequence (name, seq) SELECT 'backup_v4', seq FROM sqlite_sequence WHERE name = 'backup';
                DROP TABLE backup;
                ALTER TABLE backup_v4 RENAME TO backup;

                CREATE TABLE snapshot_link_v4 (
                    sid TEXT NOT NULL REFERENCES snapshot(sid) ON DELETE CASCADE,
                    path BLOB NOT NULL,
                    target BLOB NOT NULL,
                    mtime_ns INTEGER NOT NULL,
                    uid INTEGER NOT NULL,
                    gid INTEGER NOT NULL,
                    PRIMARY KEY (sid, path)
                );
                INSERT INTO snapshot_link_v4 SELECT sid, CAST(path AS BLOB), CAST(target AS BLOB), mtime_ns, uid, gid FROM snapshot_link;
                DROP TABLE snapshot_link;
                ALTER TABLE snapshot_link_v4 RENAME TO snapshot_link;

                CREATE TABLE snapshot_folder_v4 (
                    sid TEXT NOT NULL REFERENCES snapshot(sid) ON DELETE CASCADE,
                    path BLOB NOT NULL,
                    mode INTEGER NOT NULL,
                    mtime_ns INTEGER NOT NULL,
                    uid INTEGER NOT NULL,
                    gid INTEGER NOT NULL,
                    xattrs BLOB,
                    PRIMARY KEY (sid, path)
                );
                INSERT INTO snapshot_folder_v4 SELECT sid, CAST(path AS BLOB), mode, mtime_ns, uid, gid, xattrs FROM snapshot_folder;
                DROP TABLE snapshot_folder;
                ALTER TABLE snapshot_folder_v4 RENAME TO snapshot_folder;
                """)
        }
        // Snapshot trees (design.md, "Snapshot trees"): a snapshot was a row per
        // file, changed or not; now it is the id of its root folder's node, and
        // each folder's node is stored once by its hash, shared by every
        // snapshot where that folder did not change. `refs` counts the
        // snapshots and parent nodes that name a node, so removing a snapshot
        // frees just what it alone held. The old rows become trees here.
        m.registerMigration("v5: snapshot trees") { db in
            try db.execute(sql: """
                CREATE TABLE tree (
                    id INTEGER PRIMARY KEY,
                    hash BLOB NOT NULL UNIQUE,    -- SHA-256 of content
                    shape BLOB NOT NULL,          -- what a run compares to see a change (TreeNode.shape)
                    refs INTEGER NOT NULL,
                    content BLOB NOT NULL         -- TreeNode.encoded
                );
                ALTER TABLE snapshot ADD COLUMN root INTEGER REFERENCES tree(id);
                ALTER TABLE snapshot ADD COLUMN files INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE snapshot ADD COLUMN links INTEGER NOT NULL DEFAULT 0;
                """)
            try SnapshotMigration.convert(db)
            try db.execute(sql: "DROP TABLE snapshot_entry; DROP TABLE snapshot_link; DROP TABLE snapshot_folder")
        }
        // field_value's check `kind IN ('s', 'i', 'n', 'b')` made SQLite build a
        // temporary table of the four on every insert (it does so for a list
        // of more than two constants): a third of a hook's `bfvar[i] = v`, once
        // a new file with hdtstamp. The same rule as comparisons, which need none.
        m.registerMigration("v6: field kinds checked by comparison") { db in
            try db.execute(sql: """
                CREATE TABLE field_value_v6 (
                    field TEXT NOT NULL REFERENCES field(name) ON DELETE CASCADE,
                    owner INTEGER NOT NULL,     -- backup index ('d') or group id ('g')
                    kind TEXT NOT NULL CHECK (kind = 's' OR kind = 'i' OR kind = 'n' OR kind = 'b'),
                    value,
                    PRIMARY KEY (field, owner)
                );
                INSERT INTO field_value_v6 SELECT field, owner, kind, value FROM field_value;
                DROP TABLE field_value;
                ALTER TABLE field_value_v6 RENAME TO field_value;
                CREATE INDEX field_value_owner ON field_value(owner);
                """)
        }
        return m
    }
}
