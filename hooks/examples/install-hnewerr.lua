-- Registers hnewerr for hook 10, as Backup Manager 3's documentation does.
openbd()
if type(bhooks) ~= "table" then
  bhooks = {"", "", "", "", "", "", "", "", "", ""}
end
if bhooks[10] ~= "" and bhooks[10] ~= "hnewerr(10)" then
  error("hook 10 already runs: " .. bhooks[10], 0)
end
bhooks[10] = "hnewerr(10)"
closebd()
