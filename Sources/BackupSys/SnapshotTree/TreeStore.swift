import GRDB

/// Snapshot trees in the catalog (design.md, "Snapshot trees"): nodes
/// interned by hash, counted by who holds them, read by walking down from a
/// root, and rewritten along one path when a backup leaves the snapshots.
struct TreeStore {
    let db: Database

    init(_ db: Database) { self.db = db }

    /// Deeper than any path Linux can name (PATH_MAX is 4096 bytes): a
    /// crafted tree that names itself ends here, not in a loop.
    static let maximumDepth = 2048

    func node(_ id: Int64) throws -> TreeNode {
        guard let row = try Catalog.tree(db, id: id) else { throw BMError(21, "catalog table tree: no node \(id), which a snapshot names") }
        return try TreeNode(decoding: row.content, id: id)
    }

    /// The node's id, stored now if no node has its bytes. A new node holds its
    /// subfolders' nodes; what holds the node itself is the caller's to count.
    /// `shapes`: the subfolders' shapes, if the caller knows them.
    func intern(_ node: TreeNode, shapes: [[UInt8]]? = nil) throws -> (id: Int64, shape: [UInt8]) {
        let content = node.encoded
        let hash = TreeNode.hash(content)
        if let found = try Catalog.tree(db, hash: hash) { return found }
        let shapes = try shapes ?? node.folders.map { f in
            guard let s = try Catalog.treeShape(db, id: f.tree) else { throw BMError(21, "catalog table tree: no node \(f.tree), which a node names") }
            return s
        }
        let shape = node.shape(subfolderShapes: shapes)
        let id = try Catalog.insertTree(db, hash: hash, shape: shape, content: content)
        for f in node.folders { try Catalog.addTreeReference(db, f.tree) }
        return (id, shape)
    }

    /// One holder fewer: a node no snapshot or node holds goes, and so, in
    /// turn, do the nodes only it held.
    func release(_ id: Int64) throws {
        try Catalog.addTreeReference(db, id, -1)
        try collect([id])
    }

    /// Removes the nodes of `ids` that nothing holds, and what only they held.
    func collect(_ ids: [Int64]) throws {
        var pending = ids
        while let id = pending.popLast() {
            guard let row = try Catalog.tree(db, id: id), row.refs <= 0 else { continue }
            let node = try TreeNode(decoding: row.content, id: id)
            try Catalog.deleteTree(db, id: id)
            for f in node.folders {
                try Catalog.addTreeReference(db, f.tree, -1)
                pending.append(f.tree)
            }
        }
    }

    /// Removes the nodes nothing holds (a run stopped before recording its
    /// snapshot left them), and what only they held. Returns how many nothing held.
    @discardableResult
    func collectUnheld() throws -> Int {
        let unheld = try Catalog.unheldTrees(db)
        try collect(unheld)
        return unheld.count
    }

    /// Calls `visit` with each folder's path and node, at and under `under`
    /// (the whole tree if nil), a folder before what is in it. Where `under`
    /// is not a folder of the tree, the folder that would hold it is visited alone.
    func walk(_ root: Int64, under: Path? = nil, _ visit: (Path, TreeNode) throws -> Void) throws {
        var start = (id: root, path: Path.root)
        for name in under?.components ?? [] {
            let node = try node(start.id)
            guard let sub = node.folders.first(where: { $0.name == name }) else { return try visit(start.path, node) }
            start = (sub.tree, start.path.appending(name))
        }
        var stack = [(start.id, start.path, 0)]
        while let (id, path, depth) = stack.popLast() {
            guard depth < Self.maximumDepth else { throw BMError(21, "catalog table tree, row \(id): folders nested deeper than any path") }
            let node = try node(id)
            try visit(path, node)
            for f in node.folders.reversed() { stack.append((f.tree, path.appending(f.name), depth + 1)) }
        }
    }

    /// The node of `folder` in the tree of `root`, nil if the tree has no such folder.
    func node(_ root: Int64, at folder: Path) throws -> TreeNode? {
        var node = try node(root)
        for name in folder.components {
            guard let sub = node.folders.first(where: { $0.name == name }) else { return nil }
            node = try self.node(sub.tree)
        }
        return node
    }

    /// The tree of `root` with `edit` made to the node of `folder` (nil if
    /// the tree has no such folder): each node on the way is stored again,
    /// the rest shared. The new root is held by no one yet.
    func rewrite(_ root: Int64, at folder: Path, _ edit: (inout TreeNode) -> Void) throws -> Int64? {
        func rewrite(_ id: Int64, _ names: ArraySlice<Path>) throws -> Int64? {
            var node = try node(id)
            if let name = names.first {
                guard let i = node.folders.firstIndex(where: { $0.name == name }),
                      let child = try rewrite(node.folders[i].tree, names.dropFirst()) else { return nil }
                node.folders[i].tree = child
            } else {
                edit(&node)
            }
            return try intern(node).id
        }
        return try rewrite(root, folder.components[...])
    }
}
