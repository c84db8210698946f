-- Registers hdtstamp for hooks 2 and 3, as Backup Manager 3's documentation does.
-- Sets all its slots or none, and never over another program's hook: as
-- `bmlua hooks set`, a slot holding other code is error 35 (bm.sethooks(t, true) forces).
bm.sethooks({[2] = "hdtstamp(2)", [3] = "hdtstamp(3)"})
