import Foundation
import GRDB
import Testing
@testable import BackupSys
import TestSupport

/// Migrations keep what a catalog holds, and the rules it is held to.
@Suite struct SchemaTests {
    /// A catalog of schema v5 opens with its field values as they were, of
    /// every kind, still checked, still gone with their field; and an insert
    /// into field_value no longer builds a temporary table for its check.
    @Test func fieldValuesOfSchemaV5AreMigratedIdenticalAndStillChecked() throws {
        let f = try Fixture()
        let queue = try f.olderCatalog(upTo: "v5: snapshot trees").queue
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO field (name, type) VALUES ('Note', 'd'), ('Team', 'g');
                INSERT INTO field_value (field, owner, kind, value) VALUES
                    ('Note', 1, 's', 'text'), ('Note', 2, 'i', 42), ('Team', 1, 'n', 2.5), ('Note', 3, 'b', X'00FF');
                """)
        }
        let sql = "SELECT field, owner, kind, value, typeof(value) FROM field_value ORDER BY field, owner"
        let before = try queue.read { try Row.fetchAll($0, sql: sql) }
        try Schema.migrator.migrate(queue)
        #expect(try queue.read { try Row.fetchAll($0, sql: sql) } == before)
        #expect(before.count == 4)

        #expect(throws: DatabaseError.self) {
            try queue.write { try $0.execute(sql: "INSERT INTO field_value (field, owner, kind, value) VALUES ('Note', 9, 'x', 1)") }
        }
        try queue.write { try $0.execute(sql: "DELETE FROM field WHERE name = 'Team'") }
        #expect(try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM field_value") } == 3)
        #expect(try queue.read { try $0.indexes(on: "field_value") }.contains { $0.name == "field_value_owner" })

        let plan = try queue.read { db in
            try String.fetchAll(db, sql: "EXPLAIN INSERT OR REPLACE INTO field_value (field, owner, kind, value) VALUES ('Note', 1, 's', 'x')", at: 1)
        }
        #expect(!plan.isEmpty && !plan.contains("OpenEphemeral"), "\(plan)")
    }
}

private extension String {
    /// Column `column` of every row.
    static func fetchAll(_ db: Database, sql: String, at column: Int) throws -> [String] {
        try Row.fetchAll(db, sql: sql).map { $0[column] }
    }
}
