package container;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.security.DigestInputStream;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

import static container.LibC.*;
import static container.Narration.*;
import static container.Tar.*;

/**
 * A layer is a directory of changes, and two notations say what it deletes. In a tar, a
 * deleted file is an empty file named .wh.NAME beside where it was, and a directory whose old
 * contents all went holds .wh..wh..opq (opaque). On disk, overlayfs marks a deleted file with
 * a character device numbered 0, 0, and an opaque directory with an extended attribute. Packing
 * turns the second into the first; unpacking the first into the second.
 */
final class Layers {
    static final String WHITEOUT = ".wh.", OPAQUE = ".wh..wh..opq";
    static final LinkOption[] NOFOLLOW = {LinkOption.NOFOLLOW_LINKS};

    /** A layer, written: its blob (the gzip'd tar) and its diff_id (the tar's own digest). */
    record Packed(Image.Descriptor blob, String diffId, int entries) {
    }

    /**
     * The extended attribute that makes a directory opaque. overlayfs keeps its marks in
     * trusted.* attributes, which take CAP_SYS_ADMIN in the host's user namespace; mounted in a
     * user namespace (as init does, root's containers too) it uses user.* ones (userxattr).
     */
    static final String OPAQUE_ATTRIBUTE = "user.overlay.opaque";

    // tag::pack[]
    /** Writes DIR as a layer blob, digesting the tar and the gzip on the way. */
    static Packed pack(Store store, Path dir, boolean rootless) throws IOException {
        Path temp = Files.createDirectories(store.layout().resolve("blobs/sha256")).resolve(".layer-" + ProcessHandle.current().pid());
        MessageDigest tarDigest = Store.sha256(), gzipDigest = Store.sha256();
        int entries;
        Image.Descriptor blob;
        try {
            try (OutputStream file = Files.newOutputStream(temp);
                 DigestOutputStream gzipped = new DigestOutputStream(file, gzipDigest);
                 GZIPOutputStream gzip = new GZIPOutputStream(gzipped);
                 DigestOutputStream tar = new DigestOutputStream(gzip, tarDigest)) {
                Packing packing = new Packing(dir, tar, rootless);
                entries = packing.directory(dir, "");
                end(tar);
                packing.skipped().forEach((why, names) -> narrate("left out, " + why + ": " + String.join(" ", names)));
            }
            blob = new Image.Descriptor(Image.LAYER, Store.digestOf(gzipDigest), Files.size(temp));
            store.moveIn(temp, blob.digest());
        } finally {
            Files.deleteIfExists(temp);
        }
        String diffId = Store.digestOf(tarDigest);
        narrate("blob " + blob.digest() + ": a layer of " + entries + " entries, " + blob.size() + " bytes gzip'd (diff_id " + diffId + ")");
        return new Packed(blob, diffId, entries);
    }
    // end::pack[]

    /** One walk of a directory, in name order, parents before their children. */
    record Packing(Path root, OutputStream tar, boolean rootless, Map<Object, String> firstNameOfInode, Map<String, List<String>> skipped) {
        Packing(Path root, OutputStream tar, boolean rootless) {
            this(root, tar, rootless, new HashMap<>(), new java.util.TreeMap<>());
        }

        void skip(String why, String name) {
            skipped.computeIfAbsent(why, w -> new ArrayList<>()).add(name);
        }

        int directory(Path dir, String name) throws IOException {
            int entries = 0;
            if (!name.isEmpty()) {
                write(tar, header(dir, name, DIRECTORY, 0, ""));
                entries++;
                if (isOpaque(dir)) {
                    write(tar, new Entry(name + "/" + OPAQUE, FILE, 0, 0, 0, 0, 0, ""));
                    entries++;
                }
            }
            List<Path> children;
            try (Stream<Path> list = Files.list(dir)) {
                children = list.sorted().toList();
            } catch (AccessDeniedException e) {
                skip("as tar would, not being yours to read", name + "/*"); // an ordinary user packing root's files: /root is 0700
                return entries;
            }
            for (Path child : children) {
                String childName = (name.isEmpty() ? "" : name + "/") + child.getFileName();
                entries += Files.isDirectory(child, NOFOLLOW) ? directory(child, childName) : other(child, childName);
            }
            return entries;
        }

        // tag::pack-entry[]
        /** Anything but a directory: a file, a link, a whiteout; other devices are left out. */
        int other(Path path, String name) throws IOException {
            Map<String, Object> stat = Files.readAttributes(path, "unix:mode,rdev,ino,dev,nlink,size", NOFOLLOW);
            int type = (int) stat.get("mode") & S_IFMT;
            if (type == S_IFCHR && (long) stat.get("rdev") == 0) {
                write(tar, whiteout(name));
                return 1;
            }
            if (type == S_IFLNK) {
                write(tar, header(path, name, SYMLINK, 0, Files.readSymbolicLink(path).toString()));
                return 1;
            }
            if (type != S_IFREG || !Files.isReadable(path)) {
                skip(type == S_IFREG ? "as tar would, not being yours to read" : "devices, which the runtime makes", name);
                return 0;
            }
            Object inode = List.of(stat.get("dev"), stat.get("ino"));
            String first = (int) stat.get("nlink") > 1 ? firstNameOfInode.putIfAbsent(inode, name) : null;
            if (first != null) {
                write(tar, header(path, name, HARD_LINK, 0, first));
                return 1;
            }
            long size = (long) stat.get("size");
            write(tar, header(path, name, FILE, size, ""));
            try (InputStream in = Files.newInputStream(path)) {
                if (in.transferTo(tar) != size) throw new IOException(path + " changed size while it was packed");
            }
            pad(tar, size);
            return 1;
        }
        // end::pack-entry[]

        boolean isOpaque(Path dir) {
            byte[] value = new byte[1];
            return LIBC.lgetxattr(dir.toString(), OPAQUE_ATTRIBUTE, value, 1) == 1 && value[0] == 'y';
        }

        Entry header(Path path, String name, char type, long size, String link) throws IOException {
            Map<String, Object> stat = Files.readAttributes(path, "unix:mode,uid,gid,lastModifiedTime", NOFOLLOW);
            int uid = (int) stat.get("uid"), gid = (int) stat.get("gid");
            // An ordinary user's files are root's inside (uid 0 maps to them): so say the layer.
            if (rootless && uid == CrashRecord.UID) uid = gid = 0;
            return new Entry(name, type, (int) stat.get("mode") & 07777, uid, gid, size,
                    ((FileTime) stat.get("lastModifiedTime")).toMillis() / 1000, link);
        }
    }

    static Entry whiteout(String name) {
        int slash = name.lastIndexOf('/');
        return new Entry(name.substring(0, slash + 1) + WHITEOUT + name.substring(slash + 1), FILE, 0, 0, 0, 0, 0, "");
    }

    /** The overlay's own mark of a deleted file: a character device numbered 0, 0 (no privilege needed since Linux 5.8). */
    static void makeWhiteout(Path path) {
        quietly("mknod(\"" + path + "\", S_IFCHR, 0)", () -> LIBC.mknod(path.toString(), S_IFCHR, 0));
    }

    /** The image's layers in the store, bottom first, each unpacked if it was not yet. */
    static List<Path> unpackAll(Store store, Image image, boolean rootless) throws IOException {
        List<Path> dirs = new ArrayList<>();
        for (int i = 0; i < image.layers().size(); i++) dirs.add(unpack(store, image.layers().get(i), image.diffIds().get(i), rootless));
        return dirs;
    }

    // tag::unpack[]
    /**
     * Unpacks a layer into the store, once: a second container, or a second image with the same
     * layer, finds it there. Before a byte is written, the blob's digest is checked, then the
     * tar inside it: its digest must be the diff_id, and its size must fit in the disk's free
     * space (a gzip bomb inflates a megabyte into gigabytes). It goes to a directory of its own
     * and is renamed into place only once checked again, so a half-unpacked or tampered-with
     * layer is never used, and two runs unpacking at once do no harm.
     */
    static Path unpack(Store store, Image.Descriptor layer, String diffId, boolean rootless) throws IOException {
        Path target = store.layer(diffId);
        if (Files.isDirectory(target)) {
            narrate("layer " + diffId + ": already in " + target);
            return target;
        }
        // The blob alone first: a changed byte in a gzip stream can inflate into garbage headers
        // long before the digest at the end could say why.
        try (InputStream blob = store.open(layer.digest())) {
            Store.drain(blob);
        }
        checkBeforeUnpacking(store, layer, diffId);
        Path partial = Files.createDirectories(target.resolveSibling(".partial-" + ProcessHandle.current().pid()));
        try {
            MessageDigest tarDigest = Store.sha256();
            try (InputStream blob = store.open(layer.digest());
                 DigestInputStream tar = new DigestInputStream(new GZIPInputStream(blob), tarDigest)) {
                new Unpacking(partial, rootless).all(tar);
                Store.drain(tar);
                Store.drain(blob);
            } catch (java.util.zip.ZipException | java.io.EOFException e) {
                throw new StageFailure("layer " + layer.digest() + " is not a gzip'd tar: " + e.getMessage());
            }
            String unpacked = Store.digestOf(tarDigest);
            if (!unpacked.equals(diffId))
                throw new StageFailure("layer " + layer.digest() + " unpacks to a tar of digest " + unpacked + ", not the diff_id " + diffId + " its image says");
            try {
                Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE);
                narrate("layer " + diffId + ": unpacked into " + target);
            } catch (java.nio.file.FileAlreadyExistsException | java.nio.file.DirectoryNotEmptyException anotherRunWasFaster) {
                narrate("layer " + diffId + ": another run unpacked it first, into " + target);
            }
        } finally {
            Overlay.removeTree(partial);
        }
        return target;
    }
    // end::unpack[]

    // tag::check-before-unpacking[]
    /** The tar inside the blob, inflated and counted but written nowhere: its digest, its size. */
    static void checkBeforeUnpacking(Store store, Image.Descriptor layer, String diffId) throws IOException {
        MessageDigest tarDigest = Store.sha256();
        long size;
        try (InputStream blob = store.open(layer.digest());
             DigestInputStream tar = new DigestInputStream(new GZIPInputStream(blob), tarDigest)) {
            size = Store.drain(tar);
        } catch (java.util.zip.ZipException | java.io.EOFException e) {
            throw new StageFailure("layer " + layer.digest() + " is not a gzip'd tar: " + e.getMessage());
        }
        String unpacked = Store.digestOf(tarDigest);
        if (!unpacked.equals(diffId))
            throw new StageFailure("layer " + layer.digest() + " unpacks to a tar of digest " + unpacked + ", not the diff_id " + diffId + " its image says");
        // What stays free: the tar's size is about what its files take, and the disk keeps room for the rest of the machine.
        long free = Files.getFileStore(store.root()).getUsableSpace(), reserve = 256L << 20;
        if (size > free - reserve)
            throw new StageFailure("layer " + layer.digest() + " unpacks to " + (size >> 20) + " MiB, and " + store.root() + " has "
                    + (free >> 20) + " MiB free (256 of them kept for the rest of the machine): refused before a byte was written");
    }
    // end::check-before-unpacking[]

    /** One tar read into a directory: entries checked, whiteouts made, modes set last. */
    record Unpacking(Path root, boolean rootless, Map<Path, Integer> directoryModes) {
        Unpacking(Path root, boolean rootless) {
            this(root, rootless, new HashMap<>());
        }

        void all(InputStream tar) throws IOException {
            for (Entry entry = next(tar); entry != null; entry = next(tar)) {
                Path path = inside(entry.name());
                String name = path.getFileName().toString();
                if (name.equals(OPAQUE)) markOpaque(path.getParent());
                else if (name.startsWith(WHITEOUT)) makeWhiteout(path.resolveSibling(name.substring(WHITEOUT.length())));
                InputStream data = new BoundedInput(tar, entry.size());
                if (!name.startsWith(WHITEOUT)) create(entry, path, data);
                data.transferTo(OutputStream.nullOutputStream()); // what create did not read
                skipPadding(tar, entry.size());
            }
            // Last, as a read-only directory would refuse the files that go in it.
            for (Map.Entry<Path, Integer> dir : directoryModes.entrySet())
                if (Files.isDirectory(dir.getKey(), NOFOLLOW)) chmod(dir.getKey(), dir.getValue());
        }

        /**
         * A layer comes from elsewhere: a name like ../../etc/passwd, or one that goes through a
         * symbolic link the layer made itself (etc -> /etc, then etc/passwd), would write on the
         * host. Docker, containerd and tar itself have each had this bug at least once.
         */
        Path inside(String name) throws IOException {
            Path relative = Path.of(name).normalize();
            if (relative.toString().isEmpty()) return root; // "./", the layer's root itself, as GNU tar writes it
            if (relative.isAbsolute() || relative.startsWith(".."))
                throw new StageFailure("a layer holds the name " + name + ", which leads out of the layer: refused");
            Path path = root;
            for (Path part : relative.getParent() == null ? List.<Path>of() : relative.getParent()) {
                path = path.resolve(part.toString());
                if (Files.isSymbolicLink(path))
                    throw new StageFailure("a layer holds " + name + ", through its own symbolic link " + root.relativize(path) + ": refused");
                if (!Files.exists(path, NOFOLLOW)) Files.createDirectory(path);
                else if (!Files.isDirectory(path, NOFOLLOW))
                    throw new StageFailure("a layer holds " + name + ", below its own file " + root.relativize(path) + ", which is not a directory: refused");
            }
            return root.resolve(relative.toString());
        }

        void create(Entry entry, Path path, InputStream data) throws IOException {
            replaceable(entry, path);
            switch (entry.type()) {
                case DIRECTORY -> {
                    if (!Files.isDirectory(path, NOFOLLOW)) Files.createDirectory(path);
                    directoryModes.put(path, entry.mode());
                }
                case FILE -> {
                    Files.copy(data, path, StandardCopyOption.REPLACE_EXISTING);
                    own(entry, path);
                    chmod(path, entry.mode());
                    Files.setLastModifiedTime(path, FileTime.fromMillis(entry.mtime() * 1000));
                }
                case SYMLINK -> {
                    Files.createSymbolicLink(path, Path.of(entry.link()));
                    own(entry, path);
                }
                case HARD_LINK -> Files.createLink(path, inside(entry.link()));
                default -> narrate("layer entry " + entry.name() + " of type '" + entry.type() + "' left out: devices come from the runtime, not the image");
            }
            if (entry.type() == DIRECTORY) own(entry, path);
        }

        /**
         * A tar may name a path twice: the later entry wins, as when tar extracts it (and as
         * Docker unpacks a layer). Only a directory met again keeps what it holds. What was
         * there goes first, and a directory's mode, to be set at the end, with it: a mode kept
         * for a name that has become a symbolic link would be set on whatever the link points
         * to, on the host (chmod follows links).
         */
        void replaceable(Entry entry, Path path) {
            if (!Files.exists(path, NOFOLLOW) || entry.type() == DIRECTORY && Files.isDirectory(path, NOFOLLOW)) return;
            directoryModes.keySet().removeIf(dir -> dir.startsWith(path));
            Overlay.removeTree(path);
        }

        /** Root gives each file its owner; an ordinary user cannot, and owns them all (root inside). */
        void own(Entry entry, Path path) {
            if (!rootless) quietly("lchown(\"" + path + "\", " + entry.uid() + ", " + entry.gid() + ")", () -> LIBC.lchown(path.toString(), entry.uid(), entry.gid()));
        }

        void markOpaque(Path dir) {
            byte[] y = {'y'};
            quietly("lsetxattr(\"" + dir + "\", \"" + OPAQUE_ATTRIBUTE + "\", \"y\")", () -> LIBC.lsetxattr(dir.toString(), OPAQUE_ATTRIBUTE, y, 1, 0));
        }
    }

    static void chmod(Path path, int mode) {
        quietly("chmod(\"" + path + "\", 0" + Integer.toOctalString(mode) + ")", () -> LIBC.chmod(path.toString(), mode));
    }

    /** A file's bytes in the tar: exactly its size, no more, whatever the caller asks for. */
    static final class BoundedInput extends InputStream {
        final InputStream in;
        long left;

        BoundedInput(InputStream in, long size) {
            this.in = in;
            this.left = size;
        }

        @Override
        public int read() throws IOException {
            if (left == 0) return -1;
            int b = in.read();
            if (b >= 0) left--;
            return b;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            if (left == 0) return -1;
            int n = in.read(buffer, offset, (int) Math.min(length, left));
            if (n > 0) left -= n;
            return n;
        }
    }
}
