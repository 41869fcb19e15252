package container;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

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
     * is looked for in the workbook above it, then in the workbook above the stage's source: a
     * stage runs from its own folder (cd stages/02-uts-pid; jbang Main.java), from anywhere in
     * the workbook, or by its path from anywhere. JBang does not tell a program where its source
     * is; the workbook's launcher (scripts/jbang.in, which scripts/setup installs as jbang) does,
     * as the property workbook.source.
     */
    static Path inTheWorkbook(Path dir) {
        if (dir.isAbsolute() || Files.isDirectory(dir)) return dir;
        for (Path start : placesToLookAbove())
            for (Path above = start; above != null; above = above.getParent())
                if (Files.isDirectory(above.resolve("stages")) && Files.isDirectory(above.resolve(dir))
                        && ownedByUs(above) && ownedByUs(above.resolve(dir))) return above.resolve(dir);
        return dir;
    }

    /** The current directory, then the folder of the stage's source if the launcher said which. */
    static List<Path> placesToLookAbove() {
        Path here = Path.of("").toAbsolutePath();
        String source = System.getProperty("workbook.source");
        return source == null ? List.of(here) : List.of(here, Path.of(source).toAbsolutePath().getParent());
    }

    /** Where inTheWorkbook looked, for the message when it found nothing. */
    static String whereWeLooked() {
        List<Path> places = placesToLookAbove();
        return "here or in a workbook above " + places.get(0) + (places.size() > 1 ? " or above " + places.get(1) : "");
    }

    /**
     * A workbook found on the way up must be root's or the learner's (sudo's SUDO_UID), and
     * writable by no one else: from a directory under /tmp, another user could have left a
     * stages/ and a rootfs/ of their own above it, whose programs the container would run.
     */
    static boolean ownedByUs(Path dir) {
        try {
            int owner = (int) Files.getAttribute(dir, "unix:uid", java.nio.file.LinkOption.NOFOLLOW_LINKS);
            int mode = (int) Files.getAttribute(dir, "unix:mode", java.nio.file.LinkOption.NOFOLLOW_LINKS);
            int me = (int) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
            String sudoUid = System.getenv("SUDO_UID");
            boolean ours = owner == 0 || owner == me || sudoUid != null && sudoUid.equals(Integer.toString(owner));
            return ours && (mode & 0022) == 0;
        } catch (java.io.IOException e) {
            return false;
        }
    }

    static Path checkRootfs(Path given) {
        Path dir = inTheWorkbook(given);
        if (!Files.isDirectory(dir))
            throw new StageFailure("rootfs not found: " + given + ", " + whereWeLooked()
                    + " (run scripts/setup in the workbook, or pass --rootfs DIR)");
        if (dir.toAbsolutePath().normalize().getNameCount() == 0)
            throw new StageFailure("--rootfs / is the host's own root: give a root filesystem, such as rootfs/ (scripts/setup builds it)");
        return dir.toAbsolutePath().normalize();
    }
}
