package container;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static container.KernelFiles.*;
import static container.LibC.*;
import static container.Narration.*;

/** Init's mounts: private propagation, the rootfs as a mount point, the volumes and proc (its host-wide files hidden), then pivot_root. */
final class Mounts {

    // tag::mount-proc[]
    /**
     * A proc filesystem shows the PID namespace of the process that mounts it: ours. In a user
     * namespace the kernel allows a new proc only if a fully visible proc (nothing of it hidden
     * under other mounts) is already mounted somewhere in the caller's mount namespace (else the
     * new one could uncover what the host hid by mounting over parts of it). So proc goes up
     * inside the new root *before* pivot_root, while the host's /proc is still in this mount
     * namespace; after the switch and the detach of the old root it would be EPERM.
     */
    static void mountProc(Path root) {
        String target = root + "/proc";
        check("mount(\"proc\", \"" + target + "\", \"proc\", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)",
                () -> LIBC.mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, null), "");
    }
    // end::mount-proc[]

    // tag::host-wide-files[]
    /**
     * Most of /proc is about the container's own processes, but some files are the host's
     * kernel itself, the same in every namespace: /proc/sys holds its settings (a root inside
     * that is root outside, as with sudo and no --uid-map, could write kernel.core_pattern and
     * have the host run a program of its choosing), /proc/sysrq-trigger reboots it. Like
     * Docker's readonlyPaths, those are bound onto themselves and remounted read-only; like its
     * maskedPaths, files that tell too much about the host (its memory in /proc/kcore, its
     * keyrings, its timers) are covered by /dev/null, and such directories by an empty,
     * read-only tmpfs. A filter that refuses mount and umount keeps them so.
     */
    static final List<String> READ_ONLY = List.of("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger");
    static final List<String> MASKED = List.of("/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
            "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats");

    static void hideHostWideFiles(Path root) {
        for (String path : READ_ONLY) {
            String target = root + path;
            if (!Files.exists(Path.of(target))) continue;
            check("mount(\"" + target + "\", \"" + target + "\", NULL, MS_BIND|MS_REC, NULL)",
                    () -> LIBC.mount(target, target, null, MS_BIND | MS_REC, null), "");
            check("mount(NULL, \"" + target + "\", NULL, MS_REMOUNT|MS_BIND|MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)",
                    () -> LIBC.mount(null, target, null, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, null), "");
        }
        for (String path : MASKED) {
            String target = root + path;
            if (Files.isDirectory(Path.of(target)))
                check("mount(\"tmpfs\", \"" + target + "\", \"tmpfs\", MS_RDONLY, NULL)",
                        () -> LIBC.mount("tmpfs", target, "tmpfs", MS_RDONLY, null), "");
            else if (Files.exists(Path.of(target)))
                check("mount(\"/dev/null\", \"" + target + "\", NULL, MS_BIND, NULL)",
                        () -> LIBC.mount("/dev/null", target, null, MS_BIND, null), "");
        }
    }
    // end::host-wide-files[]

    // tag::private[]
    /**
     * This namespace starts with a copy of the host's mounts, *and* their propagation: on a
     * systemd host / is "shared", so a mount made here would appear on the host as well.
     * MS_REC|MS_PRIVATE cuts every mount of this namespace off from its peers on the host.
     */
    static void makeMountsPrivate() {
        check("mount(NULL, \"/\", NULL, MS_REC|MS_PRIVATE, NULL)", () -> LIBC.mount(null, "/", null, MS_REC | MS_PRIVATE, null), "");
    }
    // end::private[]

    /** pivot_root(2) wants the new root to be a mount point; a bind mount onto itself makes it one. */
    static void bindRootfsOntoItself(Path root) {
        check("mount(\"" + root + "\", \"" + root + "\", NULL, MS_BIND|MS_REC, NULL)",
                () -> LIBC.mount(root.toString(), root.toString(), null, MS_BIND | MS_REC, null), reachable(root));
    }

    /** What to do on EACCES: init works as the uid that root inside maps to, not as the host's root. */
    static String reachable(Path dir) {
        return "root inside is uid " + read(Path.of("/proc/self/uid_map")).trim().split("\\s+")[1] + " on the host, and every"
                + " directory on the way to " + dir + " must let it through (chmod o+x), as it must for an ordinary user";
    }

    // tag::mount-volume[]
    /**
     * A bind mount makes a directory appear at a second place: the same files, not a copy, so
     * writes on either side are seen on the other. It is done before pivot_root, while the
     * host's directory can still be named. A read-only bind mount takes a second step: the
     * kernel ignores MS_RDONLY on the first MS_BIND call, and applies it on a remount.
     */
    static void mountVolume(Path root, Volume volume) {
        String target = root + volume.inside().toString();
        check("mount(\"" + volume.host() + "\", \"" + target + "\", NULL, MS_BIND|MS_REC, NULL)",
                () -> LIBC.mount(volume.host().toString(), target, null, MS_BIND | MS_REC, null), reachable(volume.host()));
        if (volume.readOnly())
            check("mount(NULL, \"" + target + "\", NULL, MS_REMOUNT|MS_BIND|MS_RDONLY, NULL)",
                    () -> LIBC.mount(null, target, null, MS_REMOUNT | MS_BIND | MS_RDONLY, null), "");
    }
    // end::mount-volume[]

    // tag::pivot-root[]
    /**
     * pivot_root(new_root, put_old) makes new_root the root mount of this mount namespace and
     * moves the old root to put_old. Passing "." for both stacks the old root on top of the new
     * one; unmounting it (MNT_DETACH: lazily, as processes may still hold it) leaves no path at
     * all to the host's files. chroot only changed where "/" starts; this changes what exists.
     */
    static void switchRoot(Path root) {
        check("chdir(\"" + root + "\")", () -> LIBC.chdir(root.toString()), "");
        check("pivot_root(\".\", \".\")", () -> LIBC.pivot_root(".", "."), PIVOT_ROOT_HINT);
        check("umount2(\".\", MNT_DETACH)", () -> LIBC.umount2(".", MNT_DETACH), "");
        check("chdir(\"/\")", () -> LIBC.chdir("/"), "");
    }
    // end::pivot-root[]

    static final String PIVOT_ROOT_HINT = "pivot_root needs the new root to be a mount point that is not shared with the host "
            + "(EINVAL) and not the current root (EBUSY): see chapter 3";
}
