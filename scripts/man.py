#!/usr/bin/env python3
"""bmlua(1) from the command definitions (`bmlua --experimental-dump-help`)
and the hand-written sections in docs/man/: python3 scripts/man.py BMLUA > bmlua.1"""
import json, subprocess, sys, datetime, os

def roff(text):
    return (text or "").replace("\\", "\\e").replace("-", "\\-").replace("\n.", "\n\\&.")

def flags(arg):
    names = ", ".join(("-" if n["kind"] == "short" else "--") + n["name"] for n in arg.get("names", []))
    if arg["kind"] == "positional":
        names = arg.get("valueName", "arg").upper()
    elif arg["kind"] == "option":
        names += " " + arg.get("valueName", "value").upper()
    return names

def command(c, path, out):
    name = " ".join(path)
    if c.get("shouldDisplay") is False:
        return
    if len(path) > 1:
        out.append(".SS %s" % roff(name))
        out.append(roff(c.get("abstract", "")))
        if c.get("discussion"):
            out.append(".PP\n" + roff(c["discussion"]))
        for a in c.get("arguments", []):
            if a.get("shouldDisplay") is False or any(n["name"] in ("help", "version") for n in a.get("names", [])):
                continue
            if len(path) > 2 or a.get("names", [{}])[0].get("name") not in GLOBAL:
                out.append(".TP\n.B %s\n%s" % (roff(flags(a)), roff(a.get("abstract", ""))))
    for s in c.get("subcommands", []):
        command(s, path + [s["commandName"]], out)

GLOBAL = {"repo", "json", "no-hooks", "trace-hooks", "trust", "lock-wait", "verbose", "quiet"}

def main():
    tool = json.loads(subprocess.run([sys.argv[1], "--experimental-dump-help"], capture_output=True, check=True).stdout)["command"]
    date = datetime.date.today().isoformat()
    out = ['.TH BMLUA 1 "%s" "bmlua" "User Commands"' % date, ".SH NAME", "bmlua \\- " + roff(tool["abstract"]),
           ".SH SYNOPSIS", ".B bmlua\n.I command\n.RI [ options ]", ".SH DESCRIPTION", roff(tool.get("discussion", "")),
           ".SH GLOBAL OPTIONS", "Every command takes these, before or after its name:"]
    backup = next(s for s in tool["subcommands"] if s["commandName"] == "backup")
    for a in backup["arguments"]:
        if a.get("names") and a["names"][0]["name"] in GLOBAL:
            out.append(".TP\n.B %s\n%s" % (roff(flags(a)), roff(a.get("abstract", ""))))
    out.append(".SH COMMANDS")
    command(tool, ["bmlua"], out)
    here = os.path.dirname(os.path.abspath(__file__))
    out.append(open(os.path.join(here, "..", "docs", "man", "hooks-and-callback.roff")).read())
    print("\n".join(out))

main()
