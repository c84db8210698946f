import ArgumentParser
import BackupSys
import Foundation

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Create a repository (mode 0700).")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        do {
            try Repository.create(at: global.root)
        } catch {
            throw CommandFailure(BMError.wrap(error))
        }
        try global.report("created repository \(global.root)", json: ["repository": global.root])
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Check that every object the catalog names exists with its recorded size (and, with --read-data, is intact).")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .customLong("read-data"), help: "Read every object and verify its SHA-256.")
    var readData = false
    @Option(name: .customLong("read-data-subset"), help: ArgumentHelp(
        "Read and verify only a subset of the objects: n/t (part n of t) or x% (a random x percent).",
        discussion: "As restic's: checking 1/7 to 7/7 on seven days reads every object once.", valueName: "n/t|x%"),
        transform: { text in
            guard let subset = Checker.DataSubset(text) else {
                throw ValidationError("--read-data-subset wants n/t (e.g. 2/7) or a percentage (e.g. 10%), not '\(text)'")
            }
            return subset
        })
    var subset: Checker.DataSubset?

    func run() throws {
        try global.withDatabase { bd in
            let line = ProgressLine(global)
            let reading = readData || subset != nil
            let report = try Checker(bd).check(readData: reading, subset: subset ?? .all) { done, total in
                line.update("checking", done: done, of: total, "object")
            }
            line.finish()
            if global.json {
                try printJSON(CheckView(ok: report.ok, objects: report.objectsChecked, objects_read: report.objectsRead, problems: report.problems))
            }
            for p in report.problems { FileHandle.standardError.write(Data("bmlua: \(p)\n".utf8)) }
            guard report.ok else {
                throw BMError(21, "\(counted(report.problems.count, "problem")) in \(counted(report.objectsChecked, "object")); restore what you can, then run bmlua gc")
            }
            let read = report.objectsRead == report.objectsChecked ? "data read and verified" : "data of \(report.objectsRead) read and verified"
            global.say("no problems found in \(counted(report.objectsChecked, "object"))\(reading ? " (\(read))" : "")")
        }
    }
}

struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gc", abstract: "Remove objects that no backup or version uses, and browse views no snapshot has.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.withDatabase { bd in
            let line = ProgressLine(global)
            let r = try GarbageCollector(bd).collect { done, total in line.update("gc", done: done, of: total, "object") }
            line.finish()
            if global.json { try printJSON(GCView(removed: r.removed, bytes: r.bytes, views: r.views)) }
            global.say("removed \(counted(r.removed, "unused object")) (\(counted(Int(r.bytes), "byte")))" + (r.views > 0 ? " and \(counted(r.views, "leftover browse view"))" : ""))
        }
    }
}

struct Errors: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "errors", abstract: "Print the table of error numbers.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        if global.json {
            try printJSON(ErrorTable.entries.map { ErrorView(number: $0.0, message: $0.1) })
            return
        }
        for (n, text) in ErrorTable.entries { print(String(format: "%3d  ", n) + text) }
    }
}

struct CheckView: Encodable { let ok: Bool, objects: Int, objects_read: Int, problems: [String] }
struct GCView: Encodable { let removed: Int, bytes: Int64, views: Int }
struct ErrorView: Encodable { let number: Int, message: String }
