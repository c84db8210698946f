-- hgzip: store backups and versions gzip-compressed, restore them decompressed.
-- Hooks 1, 3 and 6 compress the file into a temp file held in bhtemp (the host
-- deletes it at the next hook call); hook 4 decompresses stored data.
-- A failure to compress raises error 15000 (see hnewerr.lua for its message).
--
-- Install:  bmlua routine add hooks/examples/hgzip.lua
--           bmlua run hooks/examples/install-hgzip.lua
local h = ...

local function shq(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function gzip(flags, from)
  bhtemp = bm.tempfile()
  local ok = os.execute("gzip " .. flags .. " -- " .. shq(from) .. " > " .. shq(bhtemp))
  if not ok then passerr(15000) end
  bhout = bhtemp
end

if h == 1 or h == 3 or h == 6 then
  gzip("-c -n", bhin[2])
elseif h == 4 then
  -- Data stored before hgzip was installed is not gzip data: restore it as it is.
  local f = assert(io.open(bhin[2], "rb"))
  local magic = f:read(2)
  f:close()
  if magic == "\31\139" then gzip("-d -c", bhin[2]) end
end
