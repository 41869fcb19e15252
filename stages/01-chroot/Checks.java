package container;

import java.nio.file.Files;
import java.nio.file.Path;

import static container.LibC.*;
import static container.Narration.*;

/** What the parent checks before it creates anything: each failure says what to do. */
final class Checks {

    static void requireRoot() {
        // chroot(2) needs CAP_SYS_CHROOT; on an ordinary system only root has it.
        if (LIBC.geteuid() != 0)
            throw new StageFailure("chroot(2) needs root (CAP_SYS_CHROOT): run it with sudo");
    }

    static Path checkRootfs(Path dir) {
        if (!Files.isDirectory(dir))
            throw new StageFailure("rootfs not found: " + dir + " (run scripts/setup from the workbook root, or pass --rootfs DIR)");
        if (dir.toAbsolutePath().normalize().getNameCount() == 0)
            throw new StageFailure("--rootfs / is the host's own root: give a root filesystem, such as rootfs/ (scripts/setup builds it)");
        return dir.toAbsolutePath().normalize();
    }
}
