package container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static container.Bundle.*;
import static container.LibC.*;
import static container.KernelFiles.read;
import static container.Narration.*;

// tag::bundle-mounts[]
/**
 * config.json's mounts, in their order, each one mount(2): its type and source as given, its
 * options split into the flags the kernel takes as bits (ro, nosuid, nodev...) and the rest, the
 * filesystem's own data (mode=755, size=65536k). A bind mount's flags other than MS_BIND and
 * MS_REC apply only on a second call, a remount, as stage 03's read-only volumes do.
 */
final class BundleMounts {
    static final Map<String, Long> SET = Map.ofEntries(Map.entry("ro", MS_RDONLY), Map.entry("nosuid", MS_NOSUID),
            Map.entry("nodev", MS_NODEV), Map.entry("noexec", MS_NOEXEC), Map.entry("sync", MS_SYNCHRONOUS), Map.entry("dirsync", MS_DIRSYNC),
            Map.entry("mand", MS_MANDLOCK), Map.entry("noatime", MS_NOATIME), Map.entry("nodiratime", MS_NODIRATIME),
            Map.entry("relatime", MS_RELATIME), Map.entry("strictatime", MS_STRICTATIME), Map.entry("remount", MS_REMOUNT),
            Map.entry("bind", MS_BIND), Map.entry("rbind", MS_BIND | MS_REC));
    static final Map<String, Long> CLEAR = Map.of("rw", MS_RDONLY, "suid", MS_NOSUID, "dev", MS_NODEV, "exec", MS_NOEXEC,
            "async", MS_SYNCHRONOUS, "nomand", MS_MANDLOCK, "atime", MS_NOATIME, "diratime", MS_NODIRATIME,
            "norelatime", MS_RELATIME, "nostrictatime", MS_STRICTATIME);
    static final Map<String, Long> PROPAGATION = Map.of("private", MS_PRIVATE, "rprivate", MS_PRIVATE | MS_REC,
            "slave", MS_SLAVE, "rslave", MS_SLAVE | MS_REC, "shared", MS_SHARED, "rshared", MS_SHARED | MS_REC,
            "unbindable", MS_UNBINDABLE, "runbindable", MS_UNBINDABLE | MS_REC);

    static void mount(Bundle bundle, Path root, Map<String, Object> mount, List<Path> groups) throws IOException {
        String destination = (String) mount.get("destination");
        if (destination == null) throw new StageFailure("config.json: a mount has no destination");
        String type = mount.get("type") instanceof String t ? t : "";
        String source = mount.get("source") instanceof String s ? s : type;
        long flags = 0, propagation = 0;
        boolean copyUp = false;
        List<String> data = new ArrayList<>();
        for (String option : strings(mount.get("options"))) {
            if (SET.containsKey(option)) flags |= SET.get(option);
            else if (CLEAR.containsKey(option)) flags &= ~CLEAR.get(option);
            else if (PROPAGATION.containsKey(option)) propagation = PROPAGATION.get(option);
            else if (option.equals("tmpcopyup")) copyUp = true;
            else data.add(option);
        }
        boolean bind = (flags & MS_BIND) != 0 || type.equals("bind");
        Path target = inRoot(root, destination);
        if (bind) {
            Path from = bundle.dir.resolve(source).normalize();
            if (!Files.exists(from)) throw new StageFailure("mount " + destination + ": its source " + from + " does not exist");
            createMountPoint(target, Files.isDirectory(from));
            long recursive = flags & MS_REC;
            check("mount(\"" + from + "\", \"" + target + "\", NULL, MS_BIND" + (recursive != 0 ? "|MS_REC" : "") + ", NULL)",
                    () -> LIBC.mount(from.toString(), target.toString(), null, MS_BIND | recursive, null), "");
            long rest = flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
            if (rest != 0) {
                long remount = MS_REMOUNT | MS_BIND | rest;
                check("mount(NULL, \"" + target + "\", NULL, MS_REMOUNT|MS_BIND|0x" + Long.toHexString(rest) + ", NULL)",
                        () -> LIBC.mount(null, target.toString(), null, remount, null), "");
            }
        } else if (type.equals("cgroup")) {
            mountCgroups(target, flags, groups);
        } else {
            createMountPoint(target, true);
            String options = data.isEmpty() ? null : String.join(",", data);
            long f = flags;
            // tmpcopyup: the new tmpfs starts with a copy of what the image had there
            int under = copyUp ? check("open(\"" + target + "\", O_PATH|O_DIRECTORY)", () -> LIBC.open(target.toString(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0), "") : -1;
            check("mount(\"" + source + "\", \"" + target + "\", \"" + type + "\", 0x" + Long.toHexString(f) + ", " + (options == null ? "NULL" : "\"" + options + "\"") + ")",
                    () -> LIBC.mount(source, target.toString(), type, f & ~MS_RDONLY, options), "");
            if (under >= 0) {
                copyTree(Path.of("/proc/self/fd/" + under), target);
                LIBC.close(under);
            }
            if ((f & MS_RDONLY) != 0) remountReadOnly(target.toString());
        }
        if (propagation != 0) {
            long p = propagation;
            check("mount(NULL, \"" + target + "\", NULL, 0x" + Long.toHexString(p) + ", NULL)", () -> LIBC.mount(null, target.toString(), null, p, null), "");
        }
    }
    // end::bundle-mounts[]

    /**
     * What the image holds under a directory, copied onto the tmpfs now mounted over it: the
     * directory opened before the mount still leads there through /proc/self/fd (a file's
     * descriptor is the file, not its path). Owners, modes and times go along; links stay links.
     */
    static void copyTree(Path from, Path to) throws IOException {
        try (var paths = Files.walk(from)) {
            for (Path path : paths.toList()) {
                Path copy = to.resolve(from.relativize(path).toString());
                if (path.equals(from)) continue;
                Files.copy(path, copy, java.nio.file.StandardCopyOption.COPY_ATTRIBUTES, java.nio.file.LinkOption.NOFOLLOW_LINKS);
            }
        }
        narrate("tmpcopyup: what the image had in " + to + " copied onto the tmpfs");
    }

    // lesson::in-root[] Resolve a mount's destination inside the container's root, symbolic links and all
    //   What: walk `path` one name at a time from `root`: skip "" and "."; ".." goes up, never above
    //     root; a name that is a symbolic link (Files.isSymbolicLink) is replaced by its target's
    //     names (Files.readSymbolicLink), from root if the target is absolute, else from where you
    //     are; after 40 links, a StageFailure (ELOOP). Return where the walk ends.
    //   Read: man 7 path_resolution, man 2 openat2 (RESOLVE_IN_ROOT: the kernel's own way)
    //   Trap: root.resolve(path).normalize() looks safe and is not: the kernel follows a link in
    //     the image to the host's directories when the mount point is made.
    // tag::in-root[]
    /**
     * A destination is a path inside the container, and the rootfs is the image's, which anyone
     * could have written: a symbolic link /proc -> /etc on the host would have the mount land
     * on the host. So each component is resolved here, a symlink's target taken as a path from
     * the container's root (absolute) or from its own directory (relative), ".." never above
     * the root, and the result is always under it.
     */
    static Path inRoot(Path root, String path) throws IOException {
        List<String> todo = new ArrayList<>(List.of(path.split("/")));
        Path at = root;
        for (int links = 0; !todo.isEmpty(); ) {
            String name = todo.remove(0);
            if (name.isEmpty() || name.equals(".")) continue;
            if (name.equals("..")) {
                if (!at.equals(root)) at = at.getParent();
                continue;
            }
            Path next = at.resolve(name);
            if (!Files.isSymbolicLink(next)) {
                at = next;
                continue;
            }
            if (++links > 40) throw new StageFailure("mount destination " + path + ": too many symbolic links (ELOOP)");
            String target = Files.readSymbolicLink(next).toString();
            todo.addAll(0, List.of(target.split("/")));
            if (target.startsWith("/")) at = root;
        }
        return at;
    }
    // end::in-root[]

    static void createMountPoint(Path target, boolean directory) throws IOException {
        if (Files.exists(target)) return;
        Files.createDirectories(target.getParent());
        if (directory) Files.createDirectory(target);
        else Files.createFile(target);
    }

    // tag::cgroup-mount[]
    /**
     * type "cgroup" means the container's own part of the cgroup tree: on cgroup v1 a tmpfs
     * with one directory per hierarchy (cpu, memory...), on v2 the one hierarchy. A new cgroup
     * mount would be refused in a user namespace (and would show the whole tree without a
     * cgroup namespace), so, as runc does, each is a bind mount of the host's directory of the
     * container's group in that hierarchy, as create made them (`groups`).
     */
    static void mountCgroups(Path target, long flags, List<Path> groups) throws IOException {
        createMountPoint(target, true);
        long common = flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME);
        List<Path> hierarchies = new ArrayList<>(); // where the host mounts each
        for (String line : read(Path.of("/proc/self/mountinfo")).lines().toList()) {
            String type = line.split(" - ")[1].split(" ")[0];
            if (type.equals("cgroup") || type.equals("cgroup2")) hierarchies.add(Path.of(line.split(" ")[4]));
        }
        boolean v2Only = hierarchies.size() == 1;
        if (!v2Only) check("mount(\"tmpfs\", \"" + target + "\", \"tmpfs\", ...)", () -> LIBC.mount("tmpfs", target.toString(), "tmpfs", common, "mode=755"), "");
        for (Path hierarchy : hierarchies) {
            Path source = groups.stream().filter(g -> g.startsWith(hierarchy)).findFirst().orElse(null);
            if (source == null) continue; // a hierarchy the container has no group in (name=systemd)
            Path dir = v2Only ? target : target.resolve(hierarchy.getFileName().toString());
            createMountPoint(dir, true);
            check("mount(\"" + source + "\", \"" + dir + "\", NULL, MS_BIND|MS_REC, NULL)", () -> LIBC.mount(source.toString(), dir.toString(), null, MS_BIND | MS_REC, null), "");
            if ((flags & MS_RDONLY) != 0) remountReadOnly(dir.toString());
        }
        if (!v2Only && (flags & MS_RDONLY) != 0)
            check("mount(NULL, \"" + target + "\", NULL, MS_REMOUNT|MS_RDONLY, NULL)",
                    () -> LIBC.mount(null, target.toString(), null, MS_REMOUNT | MS_RDONLY | common, "mode=755"), "");
    }
    // end::cgroup-mount[]

    // tag::devices[]
    /**
     * The spec promises every container /dev/null, zero, full, random, urandom and tty, plus
     * linux.devices. They are the host's own device files, bind-mounted: that works in a user
     * namespace too, where mknod(2) is refused; for linux.devices, mknod first (which makes
     * the file the config describes, with its mode and owner), the bind only if refused.
     * Then the links every program expects: /dev/fd, stdin, stdout, stderr, ptmx.
     */
    static void createDevices(Bundle bundle, Path root) throws IOException {
        Path dev = inRoot(root, "/dev");
        if (bundle.mounts().stream().anyMatch(m -> "/dev".equals(m.get("destination")) && strings(m.get("options")).contains("bind")))
            return; // the host's /dev, or the engine's: nothing to add
        for (String name : List.of("null", "zero", "full", "random", "urandom", "tty")) bindDevice(Path.of("/dev", name), dev.resolve(name));
        for (Map<String, Object> device : bundle.devices()) makeDevice(root, device);
        link(dev.resolve("fd"), "/proc/self/fd");
        link(dev.resolve("stdin"), "/proc/self/fd/0");
        link(dev.resolve("stdout"), "/proc/self/fd/1");
        link(dev.resolve("stderr"), "/proc/self/fd/2");
        if (Files.isDirectory(dev.resolve("pts"))) link(dev.resolve("ptmx"), "pts/ptmx");
    }

    static void bindDevice(Path host, Path target) throws IOException {
        if (Files.isSymbolicLink(target)) Files.delete(target);
        createMountPoint(target, false);
        check("mount(\"" + host + "\", \"" + target + "\", NULL, MS_BIND, NULL)", () -> LIBC.mount(host.toString(), target.toString(), null, MS_BIND, null), "");
    }

    static void makeDevice(Path root, Map<String, Object> device) throws IOException {
        String path = (String) device.get("path"), type = (String) device.get("type");
        Path target = inRoot(root, path);
        long major = number(device, "major", 0), minor = number(device, "minor", 0);
        int kind = switch (type) {
            case "c", "u" -> S_IFCHR;
            case "b" -> S_IFBLK;
            case "p" -> S_IFIFO;
            default -> throw new StageFailure("linux.devices " + path + ": no such type " + type + " (c, b, u or p)");
        };
        int mode = (int) number(device, "fileMode", 0666) & 07777;
        long number = (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xffL) << 12) | ((major & ~0xfffL) << 32); // glibc's makedev
        Files.createDirectories(target.getParent());
        Files.deleteIfExists(target);
        if (LIBC.mknod(target.toString(), kind | mode, number) == 0) {
            narrate("mknod(\"" + target + "\", " + Integer.toOctalString(kind | mode) + ", makedev(" + major + ", " + minor + ")) = 0");
            LIBC.chmod(target.toString(), mode); // mknod's mode went through the umask
            LIBC.lchown(target.toString(), (int) number(device, "uid", 0), (int) number(device, "gid", 0));
        } else if (Files.exists(Path.of(path))) {
            bindDevice(Path.of(path), target);
        } else {
            throw new StageFailure("linux.devices " + path + ": mknod failed: " + describe(jnr.ffi.Runtime.getRuntime(LIBC).getLastError()));
        }
    }

    static void link(Path at, String target) throws IOException {
        if (Files.exists(at) || Files.isSymbolicLink(at)) return;
        Files.createSymbolicLink(at, Path.of(target));
    }
    // end::devices[]

    // tag::masked[]
    /** maskedPaths: a file hidden under /dev/null, a directory under an empty read-only tmpfs; what does not exist needs no mask. */
    static void mask(String path) {
        Path p = Path.of(path);
        if (Files.isDirectory(p))
            check("mount(\"tmpfs\", \"" + path + "\", \"tmpfs\", MS_RDONLY, NULL)", () -> LIBC.mount("tmpfs", path, "tmpfs", MS_RDONLY, null), "");
        else if (Files.exists(p))
            check("mount(\"/dev/null\", \"" + path + "\", NULL, MS_BIND, NULL)", () -> LIBC.mount("/dev/null", path, null, MS_BIND, null), "");
    }

    /** readonlyPaths: bound onto itself, then remounted read-only. */
    static void readOnly(String path) {
        if (!Files.exists(Path.of(path))) return;
        check("mount(\"" + path + "\", \"" + path + "\", NULL, MS_BIND|MS_REC, NULL)", () -> LIBC.mount(path, path, null, MS_BIND | MS_REC, null), "");
        remountReadOnly(path);
    }

    /**
     * A remount keeps only the flags it is given; in a user namespace the kernel refuses one
     * that would drop nosuid, nodev or noexec from a mount the host locked with them. So the
     * mount's current flags, read from mountinfo, go along.
     */
    static void remountReadOnly(String path) {
        long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | currentFlags(path);
        check("mount(NULL, \"" + path + "\", NULL, MS_REMOUNT|MS_BIND|MS_RDONLY|..., NULL)", () -> LIBC.mount(null, path, null, flags, null), "");
    }
    // end::masked[]

    static long currentFlags(String path) {
        long flags = 0;
        for (String line : read(Path.of("/proc/self/mountinfo")).lines().toList()) {
            String[] fields = line.split(" ");
            if (!fields[4].equals(path)) continue;
            flags = 0; // the last mount on the path is the one seen there
            for (String option : fields[5].split(","))
                if (SET.containsKey(option) && option.matches("nosuid|nodev|noexec|noatime|nodiratime|relatime|strictatime")) flags |= SET.get(option);
        }
        return flags;
    }
}
