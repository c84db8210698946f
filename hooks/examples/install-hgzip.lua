-- Registers hgzip for hooks 1, 3, 4 and 6.
openbd()
if type(bhooks) ~= "table" then
  bhooks = {"", "", "", "", "", "", "", "", "", ""}
end
for _, h in ipairs({1, 3, 4, 6}) do
  local mine = "hgzip(" .. h .. ")"
  if bhooks[h] ~= "" and bhooks[h] ~= mine then
    error("hook " .. h .. " already runs: " .. bhooks[h], 0)
  end
  bhooks[h] = mine
end
closebd()
