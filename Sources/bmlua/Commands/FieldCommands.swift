import ArgumentParser
import BackupSys
import Foundation
import HookVM

struct FieldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "field", abstract: "Extended data: fields per backup (\"d\") or per group (\"g\").",
        subcommands: [Register.self, ListFields.self, Get.self, SetValue.self])

    struct Register: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "register", abstract: "Register a field.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The field's name.") var name: String
        @Argument(help: "d (one value per backup) or g (one value per group).") var type: String

        func run() throws {
            try global.withDatabase { bd in try bd.registerField(name, type: type) }
            try global.report("field \(name) registered (\(type))", json: ["name": name, "type": type])
        }
    }

    struct ListFields: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the registered fields.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.withDatabase { bd in
                let all = try bd.fields()
                if global.json { return try printJSON(all.map { ["name": $0.name, "type": $0.kind.rawValue] }) }
                for f in all { print("\(f.name)\t\(f.kind.rawValue)") }
            }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "get", abstract: "Print a field's value for one backup or group, or all its values.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The field's name.") var name: String
        @Argument(help: "A backup index (\"d\" fields) or group id (\"g\" fields).") var id: Int64?

        func run() throws {
            try global.withDatabase { bd in
                let values = try bd.fieldValues(name, owner: id)
                if global.json {
                    if id != nil { return try printJSON(values.first?.value.map(FieldValueView.init)) }
                    return try printJSON(Dictionary(uniqueKeysWithValues: values.compactMap { e in e.value.map { (String(e.owner), FieldValueView(value: $0)) } }))
                }
                for e in values {
                    let text = e.value?.text ?? "nil"
                    print(id == nil ? "\(e.owner)\t\(text)" : text)
                }
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
            let v: FieldValue = text ? .string(Array(value.utf8)) : Int64(value).map { .integer($0) } ?? Double(value).map { .number($0) }
                ?? (value == "true" ? .boolean(true) : value == "false" ? .boolean(false) : .string(Array(value.utf8)))
            try global.withDatabase { bd in try bd.setFieldValue(name, owner: id, v) }
            try global.report("\(name) of \(id) = \(v.text)", json: FieldSetView(name: name, id: id, value: FieldValueView(value: v)))
        }
    }
}

struct FieldSetView: Encodable { let name: String, id: Int64, value: FieldValueView }
