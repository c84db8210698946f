-- hdtstamp: Backup Manager 3 hook routine, ported from TI-BASIC.
-- Adds a date/time stamp to created (hook 2) and modified (hook 3) backups,
-- in the per-backup field "DTStamp".
--
-- Install:  bmlua routine add hooks/examples/hdtstamp.lua
--           bmlua run hooks/examples/install-hdtstamp.lua
local h = ...

-- Check hook (only take action on hooks 2 and 3)
if h == 2 or h == 3 then
  -- Find the database field for date/time stamps;
  -- if it's not defined, register it first
  if not pcall(getbd, "DTStamp", "d") then
    regbd("DTStamp", "d")
  end

  -- Add date/time stamp if the clock is on
  if isClkOn() then
    bfvar[bhin[4]] = getDtStr() .. " " .. getTmStr()
  else
    bfvar[bhin[4]] = "Unknown"
  end
end
