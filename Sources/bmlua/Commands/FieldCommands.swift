import ArgumentParser
import BackupSys
import Foundation
import HookVM

struct FieldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "field", abstract: "Extended data: fields per backup (\"d\") or per group (\"g\").",
        subcommands: [Register.self, ListFields.self, Get.self, SetValue.self])

    struct Register: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a field.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The field's name.") var name: String
        @Argument(help: "d (one value per backup) or g (one value per group).") var type: String

        func run() throws {
            try global.withDatabase { bd in try bd.registerField(name, type: type) }
            global.report("field \(name) registered (\(type))", json: .map(["name": .string(name), "type": .string(type)]))
        }
    }

    struct ListFields: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the registered fields.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.withDatabase { bd in
                let all = try bd.fields()
                if global.json { return printJSON(.list(all.map { .map(["name": .string($0.name), "type": .string($0.kind.rawValue)]) })) }
                for f in all { print("\(f.name)\t\(f.kind.rawValue)") }
            }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a field's value for one backup or group, or all its values.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The field's name.") var name: String
        @Argument(help: "A backup index (\"d\" fields) or group id (\"g\" fields).") var id: Int64?

        func run() throws {
            try global.withDatabase { bd in
                let values = try bd.fieldValues(name, owner: id)
                if global.json {
                    return printJSON(id == nil ? .map(Dictionary(uniqueKeysWithValues: values.map { (.string(String($0.0)), $0.1) })) : values.first?.1 ?? .nil)
                }
                for (owner, v) in values { print(id == nil ? "\(owner)\t\(v.stringValue ?? v.description)" : v.stringValue ?? v.description) }
            }
        }
    }

    struct SetValue: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Set a field's value (a number, true/false, or text).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The field's name.") var name: String
        @Argument(help: "A backup index (\"d\" fields) or group id (\"g\" fields).") var id: Int64
        @Argument(help: "The value.") var value: String
        @Flag(help: "Store the value as text, even if it reads as a number or true/false (\"007\").") var text = false

        func run() throws {
            let v: LuaValue = text ? .string(value) : Int64(value).map { .integer($0) } ?? Double(value).map { .number($0) }
                ?? (value == "true" ? true : value == "false" ? false : .string(value))
            try global.withDatabase { bd in try bd.setFieldValue(name, owner: id, v) }
            global.report("\(name) of \(id) = \(v.stringValue ?? v.description)", json: .map(["name": .string(name), "id": .integer(id), "value": v]))
        }
    }
}
