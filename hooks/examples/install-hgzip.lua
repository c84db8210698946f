-- Registers hgzip for hooks 1, 3, 4 and 6.
-- Sets all its slots or none, and never over another program's hook: as
-- `bmlua hooks set`, a slot holding other code is error 35 (bm.sethooks(t, true) forces).
bm.sethooks({[1] = "hgzip(1)", [3] = "hgzip(3)", [4] = "hgzip(4)", [6] = "hgzip(6)"})
