package container;

import java.nio.file.Path;

import static container.LibC.*;
import static container.Narration.*;

/** Init's mounts: cut off from the host's, the rootfs and the volumes bound in, then the rootfs made the root. */
final class Mounts {

    // lesson::private[] Cut this namespace's mounts off from the host's
    //   What: one mount(2) call that changes the propagation of / and of every mount below it to
    //     private (MS_REC|MS_PRIVATE; no source, no type, no data), through check(...).
    //   Read: man 7 mount_namespaces ("Shared subtrees"), man 2 mount ("Changing the propagation type")
    //   Trap: on a systemd host / is shared: forget this, and the volume's mount shows up on the
    //     host, and pivot_root refuses to move a shared mount (EINVAL).
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
                () -> LIBC.mount(root.toString(), root.toString(), null, MS_BIND | MS_REC, null), "");
    }

    // lesson::volume[] Bind-mount a volume into the new root
    //   What: mount(2) the host directory onto root + the volume's path inside with MS_BIND|MS_REC;
    //     for a read-only volume, a second mount(2) of the target with MS_REMOUNT|MS_BIND|MS_RDONLY.
    //   Read: man 2 mount ("Creating a bind mount", "Remounting an existing mount"), man 8 mount (--bind)
    //   Trap: the kernel ignores MS_RDONLY on the first bind mount; only the remount makes it read-only.
    //     And do it before pivot_root, while the host's directory still has a name.
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
                () -> LIBC.mount(volume.host().toString(), target, null, MS_BIND | MS_REC, null), "");
        if (volume.readOnly())
            check("mount(NULL, \"" + target + "\", NULL, MS_REMOUNT|MS_BIND|MS_RDONLY, NULL)",
                    () -> LIBC.mount(null, target, null, MS_REMOUNT | MS_BIND | MS_RDONLY, null), "");
    }
    // end::mount-volume[]

    // lesson::pivot-root[] Make the rootfs the root of the mount namespace
    //   What: chdir(2) into the new root; pivot_root(".", ".") (LIBC.pivot_root, with PIVOT_ROOT_HINT
    //     as what to do); umount2(".", MNT_DETACH) the old root now stacked on top; chdir("/").
    //   Read: man 2 pivot_root (its NOTES on new_root == put_old), man 2 umount2
    //   Trap: chroot(2) is not enough: the host's root stays mounted and stage 01's escape finds it.
    //     pivot_root wants a mount point that is not shared (EINVAL) and not the current root (EBUSY).
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
