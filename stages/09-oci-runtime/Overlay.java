package container;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.Stream;

import static container.LibC.*;
import static container.Narration.*;

/** A container's root: the image's layers, read-only, under a directory of its own changes. */
final class Overlay {
    static final List<String> DEVICES = List.of("null", "zero", "full", "random", "urandom", "tty");

    /** upper: what the container changed; work: overlayfs's scratch space, on the same filesystem; merged: the mount point. */
    record Dirs(Path container, Path upper, Path work, Path merged) {
        static Dirs of(Path container) {
            return new Dirs(container, container.resolve("upper"), container.resolve("work"), container.resolve("merged"));
        }
    }

    // tag::overlay-options[]
    /**
     * lowerdir lists the layers top first, as a PATH lists directories: a name is looked up in
     * the upper directory, then in each layer down, and the first one found wins. Mounted in a
     * user namespace, overlayfs may not use trusted.* attributes for its marks (an opaque
     * directory, say): userxattr makes it use user.* ones, or removing a directory fails with EIO.
     */
    static String options(List<Path> layersBottomFirst, Dirs dirs) {
        List<String> lower = new ArrayList<>(layersBottomFirst.stream().map(Path::toString).toList());
        Collections.reverse(lower);
        return "lowerdir=" + String.join(":", lower) + ",upperdir=" + dirs.upper() + ",workdir=" + dirs.work()
                + ",userxattr";
    }
    // end::overlay-options[]

    /** The container's directories, made empty by the parent; owned by root inside, whoever that is on the host. */
    static Dirs create(Path container, int rootInside) throws IOException {
        if (Files.exists(container))
            throw new StageFailure("a container " + container.getFileName() + " exists already in " + container.getParent()
                    + " (kept by --keep): commit it, remove it with `rm " + container.getFileName() + "`, or choose another --name");
        Dirs dirs = Dirs.of(container);
        for (Path dir : List.of(dirs.upper(), dirs.work(), dirs.merged())) {
            Files.createDirectories(dir);
            if (rootInside != CrashRecord.UID) quietly("lchown(\"" + dir + "\", " + rootInside + ", -1)", () -> LIBC.lchown(dir.toString(), rootInside, -1));
        }
        narrate("mkdir " + dirs.upper() + " " + dirs.work() + " " + dirs.merged());
        return dirs;
    }

    // tag::mount-overlay[]
    /**
     * Init mounts it inside the container's mount namespace, so the host never sees this mount
     * and it goes when the namespace does, however the container ends. Writing a file of a layer
     * first copies it up into the upper directory (copy-on-write); deleting one leaves a whiteout
     * there. The layers themselves are never written: every container of an image shares them.
     */
    static void mountOverlay(Path root, String options) {
        check("mount(\"overlay\", \"" + root + "\", \"overlay\", 0, \"" + options + "\")",
                () -> LIBC.mount("overlay", root.toString(), "overlay", 0, options), OVERLAY_HINT);
    }
    // end::mount-overlay[]

    /** overlayfs lets a user namespace's root mount it since Linux 5.11; before, only the host's root could. */
    static void requireOverlay(boolean rootless) {
        String[] release = UserNamespace.sysctl("kernel/osrelease").split("[.-]");
        int major = Integer.parseInt(release[0]), minor = Integer.parseInt(release[1]);
        if (rootless && (major < 5 || major == 5 && minor < 11))
            throw new StageFailure("--image needs an overlay mount, which an ordinary user may make only on Linux 5.11 or later (this is "
                    + String.join(".", release[0], release[1]) + "): run it with sudo, or use the course VM");
    }

    static final String OVERLAY_HINT = "overlayfs needs the overlay module (modprobe overlay), and an ordinary user needs"
            + " Linux 5.11 or later (or run it with sudo)";

    // tag::dev[]
    /**
     * An image carries no device files (an ordinary user could not make them, nor use them under
     * a mount made in a user namespace, which is always nodev). So, like Docker and Podman, init
     * gives the container a small /dev of its own: a tmpfs, and the host's harmless devices
     * bind-mounted onto empty files in it.
     */
    static void mountDev(Path root) throws IOException {
        String dev = root + "/dev";
        check("mount(\"tmpfs\", \"" + dev + "\", \"tmpfs\", MS_NOSUID|MS_NOEXEC, \"mode=755,size=64k\")",
                () -> LIBC.mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k"), "");
        for (String device : DEVICES) {
            Files.createFile(Path.of(dev, device));
            quietly("mount(\"/dev/" + device + "\", \"" + dev + "/" + device + "\", NULL, MS_BIND, NULL)",
                    () -> LIBC.mount("/dev/" + device, dev + "/" + device, null, MS_BIND, null));
        }
        narrate("mount(\"/dev/X\", \"" + dev + "/X\", NULL, MS_BIND, NULL) = 0 for X in " + String.join(" ", DEVICES));
    }
    // end::dev[]

    static boolean isContainer(Path dir) {
        return Files.isRegularFile(dir.resolve("pid"), Layers.NOFOLLOW) && Files.isDirectory(Dirs.of(dir).upper(), Layers.NOFOLLOW);
    }

    /**
     * Removes a directory and what is in it, without following links. overlayfs leaves a
     * work/work directory of mode 000, which even its owner must open up before emptying.
     */
    static void removeTree(Path path) {
        try {
            if (Files.isDirectory(path, Layers.NOFOLLOW)) {
                LIBC.chmod(path.toString(), 0700);
                try (Stream<Path> children = Files.list(path)) {
                    for (Path child : children.toList()) removeTree(child);
                }
            }
            Files.deleteIfExists(path);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
