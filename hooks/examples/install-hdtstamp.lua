-- Registers hdtstamp for hooks 2 and 3, as Backup Manager 3's documentation does.
-- Refuses to replace another program's hook: remove it first, or edit this file.
openbd()
if type(bhooks) ~= "table" then
  bhooks = {"", "", "", "", "", "", "", "", "", ""}
end
for h = 2, 3 do
  local mine = "hdtstamp(" .. h .. ")"
  if bhooks[h] ~= "" and bhooks[h] ~= mine then
    error("hook " .. h .. " already runs: " .. bhooks[h], 0)
  end
  bhooks[h] = mine
end
closebd()
