-- Registers hnewerr for hook 10, as Backup Manager 3's documentation does.
-- Sets all its slots or none, and never over another program's hook: as
-- `bmlua hooks set`, a slot holding other code is error 35 (bm.sethooks(t, true) forces).
bm.sethooks({[10] = "hnewerr(10)"})
