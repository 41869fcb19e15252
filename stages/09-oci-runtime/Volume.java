package container;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static container.Narration.*;

// tag::volume[]
/** --volume HOST_DIR:CONTAINER_DIR[:ro], checked before anything is created. */
record Volume(Path host, Path inside, boolean readOnly) {
    static List<Volume> parseAll(List<String> specs) {
        return specs.stream().map(Volume::parse).toList();
    }

    static Volume parse(String spec) {
        String[] parts = spec.split(":", -1);
        if (parts.length < 2 || parts.length > 3 || (parts.length == 3 && !parts[2].equals("ro")))
            throw new StageFailure("--volume " + spec + ": expected HOST_DIR:CONTAINER_DIR or HOST_DIR:CONTAINER_DIR:ro");
        Path host = Path.of(parts[0]), inside = Path.of(parts[1]);
        if (!host.isAbsolute() || !inside.isAbsolute())
            throw new StageFailure("--volume " + spec + ": both directories must be absolute paths");
        if (!Files.isDirectory(host))
            throw new StageFailure("--volume " + spec + ": no such directory on the host: " + host);
        if (inside.normalize().getNameCount() == 0)
            throw new StageFailure("--volume " + spec + ": cannot mount over the container's /");
        if (host.normalize().getNameCount() == 0)
            throw new StageFailure("--volume " + spec + ": the host's / would put the whole host inside: choose a directory");
        return new Volume(host.normalize(), inside.normalize(), parts.length == 3);
    }
    // end::volume[]

    /** A bind mount needs a directory to land on; the parent makes missing ones and removes them after. */
    static List<Path> createMountPoints(Path root, List<Volume> volumes) throws IOException {
        for (Volume volume : volumes) checkMountPoint(root, volume);
        List<Path> made = new ArrayList<>();
        for (Volume volume : volumes) {
            Path onHost = root.resolve(volume.inside().toString().substring(1));
            if (Files.isDirectory(onHost)) continue;
            for (Path p = onHost; !Files.exists(p); p = p.getParent()) made.add(0, p);
            try {
                Files.createDirectories(onHost);
            } catch (AccessDeniedException e) {
                throw new StageFailure("--volume " + volume.host() + ":" + volume.inside() + ": cannot create the mount point in "
                        + root + ", which is not yours: use a directory the rootfs has, such as /mnt");
            }
            narrate("mkdir -p " + onHost + " (a mount point for the volume)");
        }
        return made;
    }

    /**
     * The mount point is a directory of the rootfs itself, reached without a symbolic link (the
     * parent resolves the path on the host, where a link could lead anywhere), and not in /proc,
     * which init covers with the container's own proc. Checked for every volume before any is made.
     */
    static void checkMountPoint(Path root, Volume volume) {
        String option = "--volume " + volume.host() + ":" + volume.inside();
        if (volume.inside().startsWith("/proc"))
            throw new StageFailure(option + ": /proc in the container is its own proc filesystem, which would cover the volume");
        Path p = root;
        for (Path name : volume.inside()) {
            p = p.resolve(name.toString());
            if (Files.isSymbolicLink(p))
                throw new StageFailure(option + ": /" + root.relativize(p) + " in the container is a symbolic link: mount on a directory");
            if (Files.exists(p) && !Files.isDirectory(p))
                throw new StageFailure(option + ": /" + root.relativize(p) + " in the container is a file, not a directory: a volume is a directory mounted on a directory");
        }
    }

    static void removeFromHost(List<Path> made) {
        for (int i = made.size() - 1; i >= 0; i--) {
            try {
                if (Overlay.isContainer(made.get(i))) Overlay.removeTree(made.get(i)); // with what the container wrote
                else Files.deleteIfExists(made.get(i));
            } catch (IOException | UncheckedIOException e) {
                System.err.println(NAME + ": could not remove " + made.get(i) + ": " + e.getMessage());
            }
        }
    }
    // tag::volume[]
}
// end::volume[]
