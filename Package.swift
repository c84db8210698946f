// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "bmlua",
        products: [
        .executable(name: "bmlua", targets: ["bmlua"]),
        .library(name: "BackupSys", targets: ["BackupSys"]),
        .library(name: "HookVM", targets: ["HookVM"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLua",
            pkgConfig: "lua5.4",
            providers: [.apt(["liblua5.4-dev"])]
        ),
        // Headers on the default path; its .pc file only adds -D flags SwiftPM refuses.
        .systemLibrary(name: "CReadline", providers: [.apt(["libreadline-dev"])]),
        // bmlua's C side of the Lua host: the limits, the watchdog, the
        // trampoline, Ctrl-C's handler. Real C files, so an edit rebuilds what uses them.
        .target(name: "LuaHost", dependencies: ["CLua"], cSettings: [.unsafeFlags(["-I/usr/include/lua5.4"])]),
        // The Linux calls Swift's Glibc module leaves out.
        .target(name: "CSystem"),
        // SQLite's process-wide settings (sqlite3_config is C varargs).
        .target(name: "CSQLite", linkerSettings: [.linkedLibrary("sqlite3")]),
        .target(name: "HookVM", dependencies: ["CLua", "LuaHost", "CSystem"]),
        .target(
            name: "BackupSys",
            dependencies: [
                "HookVM", "CSystem", "CSQLite",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        .executableTarget(
            name: "bmlua",
            dependencies: [
                "BackupSys", "CReadline", "LuaHost",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "bmlua-bench", dependencies: ["HookVM", "CLua", "LuaHost"]),
        .testTarget(name: "HookVMTests", dependencies: ["HookVM", "CLua", "LuaHost"]),
        // What the BackupSys and command-line tests share: a throw-away repository.
        .target(name: "TestSupport", dependencies: ["BackupSys", "HookVM", .product(name: "GRDB", package: "GRDB.swift")], path: "Tests/TestSupport"),
        .testTarget(name: "BackupSysTests", dependencies: ["BackupSys", "HookVM", "TestSupport", .product(name: "GRDB", package: "GRDB.swift"),
                                                          .product(name: "Crypto", package: "swift-crypto")]),
        // The bmlua program as users run it: built first, found in the products folder.
        .testTarget(name: "CommandLineTests", dependencies: ["bmlua", "BackupSys", "HookVM", "TestSupport", .product(name: "GRDB", package: "GRDB.swift"),
                                                            .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    ],
    swiftLanguageModes: [.v6]
)
