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

    /**
     * A relative --rootfs (the default, rootfs, is one) that is not in the current directory
     * is looked for in the workbook above it: a stage runs from its own folder (cd
     * stages/02-uts-pid; jbang Main.java) or from anywhere in the workbook. (JBang does not
     * tell a program where its source is, or the stage would start from there.)
     */
    static Path inTheWorkbook(Path dir) {
        if (dir.isAbsolute() || Files.isDirectory(dir)) return dir;
        for (Path above = Path.of("").toAbsolutePath().getParent(); above != null; above = above.getParent())
            if (Files.isDirectory(above.resolve("stages")) && Files.isDirectory(above.resolve(dir))) return above.resolve(dir);
        return dir;
    }

    static Path checkRootfs(Path given) {
        Path dir = inTheWorkbook(given);
        if (!Files.isDirectory(dir))
            throw new StageFailure("rootfs not found: " + given + ", here or in a workbook above " + Path.of("").toAbsolutePath()
                    + " (run scripts/setup in the workbook, or pass --rootfs DIR)");
        if (dir.toAbsolutePath().normalize().getNameCount() == 0)
            throw new StageFailure("--rootfs / is the host's own root: give a root filesystem, such as rootfs/ (scripts/setup builds it)");
        return dir.toAbsolutePath().normalize();
    }
}
