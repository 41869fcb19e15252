package container;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

import static container.Narration.*;

// tag::store[]
/**
 * Where images, layers and containers live, as /var/lib/docker does for Docker:
 *
 *   oci/                an OCI image layout: oci-layout, index.json (the names), blobs/sha256/HEX
 *   layers/sha256/HEX   each layer unpacked once, named by its diff_id, shared by every container
 *   containers/NAME     one container's upper and work directories, and the mount point
 *
 * A blob's name is the sha256 of its bytes, so reading one checks it: a changed byte no longer
 * matches its name. An ordinary user keeps their own store in ~/.local/share/workbook.
 */
record Store(Path root) {
    static Store at(Path dir) {
        Store store;
        if (dir != null) store = new Store(dir.toAbsolutePath().normalize());
        else if (CrashRecord.UID == 0) store = new Store(Path.of("/var/lib/workbook"));
        else {
            // As the XDG base directories say; $HOME, not Java's user.home, which comes from /etc/passwd.
            String data = System.getenv("XDG_DATA_HOME"), home = System.getenv("HOME");
            Path share = data != null && !data.isEmpty() ? Path.of(data)
                    : Path.of(home != null && !home.isEmpty() ? home : System.getProperty("user.home"), ".local/share");
            store = new Store(share.resolve("workbook"));
        }
        store.closeToOthers();
        return store;
    }

    /**
     * What containers write and what images bring lands here, with its owners and modes: a
     * setuid-root program among them, reachable by other users, would make any of them root.
     * So the store is its owner's alone, mode 0700, as Docker keeps /var/lib/docker (0710).
     */
    void closeToOthers() {
        try {
            Files.createDirectories(root);
            Files.setPosixFilePermissions(root, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        } catch (IOException e) {
            throw new StageFailure("the store " + root + " cannot be made yours alone (mode 0700): " + e.getMessage());
        }
    }

    Path layout() {
        return root.resolve("oci");
    }

    Path blob(String digest) {
        return layout().resolve("blobs/sha256").resolve(checkDigest(digest).substring(7));
    }

    Path layer(String diffId) {
        return root.resolve("layers/sha256").resolve(checkDigest(diffId).substring(7));
    }

    // tag::check-digest[]
    /**
     * Every name an image gives is checked before it becomes part of a path: "sha256:" and 64
     * hex digits. Unchecked, a config whose diff_ids say "sha256:/etc" made the host's /etc a
     * layer of the container, since resolving an absolute path throws away what came before.
     */
    static String checkDigest(String digest) {
        if (digest == null || !digest.matches("sha256:[0-9a-f]{64}")) throw new StageFailure("not a sha256 digest: " + digest);
        return digest;
    }
    // end::check-digest[]

    Path container(String name) {
        return root.resolve("containers").resolve(name);
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String digestOf(MessageDigest digest) {
        return "sha256:" + HexFormat.of().formatHex(digest.digest());
    }

    static String digestOf(byte[] bytes) {
        return digestOf(sha256Of(bytes));
    }

    private static MessageDigest sha256Of(byte[] bytes) {
        MessageDigest digest = sha256();
        digest.update(bytes);
        return digest;
    }

    /** Stores bytes under their own digest, and returns it. */
    String put(byte[] bytes) throws IOException {
        String digest = digestOf(bytes);
        Path temp = Files.createDirectories(layout().resolve("blobs/sha256")).resolve(".new-" + ProcessHandle.current().pid());
        Files.write(temp, bytes);
        return moveIn(temp, digest);
    }

    /** A file written elsewhere (a layer, digested as it was written) joins the blobs under its digest. */
    String moveIn(Path file, String digest) throws IOException {
        Files.createDirectories(blob(digest).getParent());
        Files.move(file, blob(digest), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return digest;
    }

    byte[] read(String digest) {
        try (InputStream in = open(digest)) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // tag::verify-blob[]
    /** The blob's bytes, checked against its name when the last one has been read. */
    InputStream open(String digest) throws IOException {
        MessageDigest sha256 = sha256();
        InputStream file;
        try {
            file = Files.newInputStream(blob(digest));
        } catch (NoSuchFileException e) {
            throw new StageFailure("blob " + digest + " is missing from " + layout() + ": the image is incomplete");
        }
        return new FilterInputStream(new DigestInputStream(file, sha256)) {
            boolean checked;

            @Override
            public int read() throws IOException {
                int b = super.read();
                if (b < 0) verify();
                return b;
            }

            @Override
            public int read(byte[] buffer, int offset, int length) throws IOException {
                int n = super.read(buffer, offset, length);
                if (n < 0) verify();
                return n;
            }

            void verify() {
                if (checked) return;
                checked = true;
                String actual = digestOf(sha256);
                if (!actual.equals(digest))
                    throw new StageFailure("blob " + digest + " is corrupt: its bytes hash to " + actual + " (" + blob(digest) + ")");
            }
        };
    }
    // end::verify-blob[]

    /** Reads what is left of a stream, so that a blob's check at the end happens. */
    /** Reads a stream to its end, for what reading it checks; returns how many bytes it held. */
    static long drain(InputStream in) throws IOException {
        return in.transferTo(java.io.OutputStream.nullOutputStream());
    }
}
// end::store[]
