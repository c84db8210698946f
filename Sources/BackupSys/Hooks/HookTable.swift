import HookVM

/// DESIGN §5: what each of the ten hooks returns. Their `bhin` lists are
/// built by the operations themselves, in the order of the table.
public enum HookTable {
    public static let count = 10

    public static let signatures: [Int: HookSignature] = [
        1: HookSignature(bhout: .string),              // actual file to store
        2: HookSignature(),
        3: HookSignature(bhout: .string),              // actual file
        4: HookSignature(bhout: .string),              // actual file to restore from
        5: HookSignature(),
        6: HookSignature(bhout: .string, bhout2: .string),   // actual file, comment
        7: HookSignature(bhout: .string),              // comment to use
        8: HookSignature(),
        9: HookSignature(bhout: .number, bhout2: .string),   // errornum, message
        10: HookSignature(bhout: .number, bhout2: .string),
    ]

    public static let purposes: [Int: String] = [
        1: "newbu, before the data is stored",
        2: "newbu, after the backup exists",
        3: "updbu, before the new data is stored",
        4: "restbu, before the data is written back",
        5: "delbu, before the backup is removed",
        6: "newver, before the version's data is stored",
        7: "cmtver, before the comment changes",
        8: "delver, before the version is removed",
        9: "errh, any error, before the handler acts",
        10: "errh, an error number the handler does not know",
    ]
}
