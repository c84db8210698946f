import GRDB

/// Builds a snapshot's tree from a stream in walk order (Walker's order: a
/// folder before what is in it, each path after the last bytewise, a
/// folder's path counted as ending in `/`). Only the folders on the way
/// down from the root are held at a time; each is interned as the walk
/// leaves it, so a folder that did not change since the last snapshot costs
/// a lookup and nothing stored.
struct TreeBuilder {
    private struct Open {
        var path: Path
        var node: TreeNode
        var shapes: [[UInt8]] = []
    }
    private let store: TreeStore
    private var stack = [Open(path: .root, node: TreeNode(metadata: nil))]
    private(set) var files = 0
    private(set) var links = 0

    init(_ db: Database) { store = TreeStore(db) }

    mutating func folder(_ f: SnapshotFolder) throws {
        let metadata = TreeNode.Metadata(mode: f.mode, mtimeNs: f.mtimeNs, owner: f.owner, xattrs: f.xattrs)
        if f.path == .root {
            try enter(.root)
            stack[0].node.metadata = metadata
            return
        }
        try enter(f.path.directory)
        stack.append(Open(path: f.path, node: TreeNode(metadata: metadata)))
    }

    mutating func file(_ path: Path, backup: Int64, version: Int64, hardlink: Int64?) throws {
        try enter(path.directory)
        stack[stack.count - 1].node.files.append(TreeNode.File(backup: backup, version: version, hardlink: hardlink))
        files += 1
    }

    mutating func link(_ l: SnapshotLink) throws {
        try enter(l.path.directory)
        stack[stack.count - 1].node.links.append(TreeNode.Link(name: l.path.baseName, target: l.target, mtimeNs: l.mtimeNs, owner: l.owner))
        links += 1
    }

    /// The root's id (held by no one yet: the caller records the snapshot) and its shape.
    mutating func finish() throws -> (root: Int64, shape: [UInt8]) {
        while stack.count > 1 { try leave() }
        let (root, shape) = try intern(stack[0])
        return (root, shape)
    }

    /// Leaves the folders `folder` is not in, and opens those on the way to it
    /// that were not walked (the way down to an include).
    private mutating func enter(_ folder: Path) throws {
        if folder == stack[stack.count - 1].path { return }   // most files: the folder before's
        while !folder.isAtOrUnder(stack[stack.count - 1].path) { try leave() }
        let names = folder.components
        var path = stack[stack.count - 1].path
        for name in names.dropFirst(path.components.count) {
            path = path.appending(name)
            stack.append(Open(path: path, node: TreeNode(metadata: nil)))
        }
    }

    private mutating func leave() throws {
        let done = stack.removeLast()
        let (id, shape) = try intern(done)
        stack[stack.count - 1].node.folders.append(TreeNode.Subfolder(name: done.path.baseName, tree: id))
        stack[stack.count - 1].shapes.append(shape)
    }

    /// Files by backup index, links and subfolders by name (the walk gives a
    /// folder's path as if it ended in `/`, so `a-b` comes before `a`).
    private func intern(_ open: Open) throws -> (id: Int64, shape: [UInt8]) {
        var node = open.node
        node.files.sort { $0.backup < $1.backup }
        node.links.sort { $0.name < $1.name }
        let order = node.folders.indices.sorted { node.folders[$0].name < node.folders[$1].name }
        node.folders = order.map { open.node.folders[$0] }
        return try store.intern(node, shapes: order.map { open.shapes[$0] })
    }
}

extension Path {
    /// Walk order's key: a folder's path as if it ended in `/` (git's order
    /// of a tree's entries), so that each folder's contents follow it at once
    /// and the whole walk is in bytewise order of paths.
    func walkKey(isFolder: Bool) -> [UInt8] { isFolder && self != .root ? bytes + [Path.slash] : bytes }
}
