import GRDB

extension BackupDatabase {
    /// The catalog as text, for comparing states (tests, debugging).
    public func dumpCatalog() throws -> String { try read(Catalog.dump) }
}
