-- hnewerr: Backup Manager 3 hook routine, ported from TI-BASIC.
-- Defines the custom error 15000, "Not enough RAM to compress <file name>",
-- by catching hook 10 (errors the handler does not know).
--
-- Install:  bmlua routine add hooks/examples/hnewerr.lua
--           bmlua run hooks/examples/install-hnewerr.lua
-- Try it:   bmlua eval 'openbd() local ok = pcall(passerr, 15000)
--                       if not ok then errh("foo/bar", true, false) end closebd()'
local h = ...

-- Catch hook 10
if h == 10 then
  -- Check for error #15000
  if bhin[1] == 15000 then
    -- Strip the folder name from the path, leaving just the file name
    local file = bhin[2]:match("[^/]*$")
    bhout = 15000
    bhout2 = "Not enough RAM to compress " .. file
  end
end
