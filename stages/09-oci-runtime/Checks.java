package container;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static container.Narration.*;

/** What the parent checks before it creates anything: each failure says what to do. */
final class Checks {
    static final int HOST_NAME_MAX = 64; // <limits.h>: sethostname(2) refuses longer names with EINVAL

    static void checkHostname(String name) {
        if (name.isEmpty() || name.length() > HOST_NAME_MAX)
            throw new StageFailure("--hostname must be 1 to " + HOST_NAME_MAX + " characters (HOST_NAME_MAX); \""
                    + (name.length() > 20 ? name.substring(0, 20) + "..." : name) + "\" has " + name.length());
        // The kernel takes any bytes, but a name with spaces, slashes or control characters is
        // mangled by the shell's prompt, by DNS, by the tools that print it: refuse it here.
        if (!name.matches("[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?"))
            throw new StageFailure("--hostname " + name.replaceAll("\\p{Cntrl}", "?") + ": use letters, digits, '-' and '.', starting and ending with a letter or digit");
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
        if (!Files.isDirectory(dir.resolve("proc")))
            throw new StageFailure("rootfs " + dir + " has no /proc directory to mount proc on (scripts/setup builds a complete one)");
        return dir.toAbsolutePath().normalize();
    }

    static void requireNamespaces(String... kinds) {
        for (String kind : kinds)
            if (!Files.exists(Path.of("/proc/self/ns", kind)))
                throw new StageFailure("this kernel has no " + kind + " namespace (/proc/self/ns/" + kind + " is missing): use the course VM");
    }
}
