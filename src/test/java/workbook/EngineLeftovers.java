package workbook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * What an engine (Podman, dockerd) may leave once its containers are gone, for the test that
 * ran it to remove: mounts under the scratch directory it was given (an overlay, a shm), the
 * cgroup parent its containers were put under, and what it makes on its first run outside any
 * directory it is given, if that was not there before the test.
 */
final class EngineLeftovers {
    private final Path scratch;
    private final String cgroupParent;
    private final List<Path> absentBefore = new ArrayList<>();

    EngineLeftovers(Path scratch, String cgroupParent, List<Path> madeOnFirstRun) {
        this.scratch = scratch;
        this.cgroupParent = cgroupParent;
        for (Path path : madeOnFirstRun) if (!Files.exists(path)) absentBefore.add(path);
    }

    void remove() throws IOException {
        List<String> mounts = new ArrayList<>(Host.mountinfo());
        Collections.reverse(mounts); // the last mounted first
        for (String line : mounts)
            if (line.split(" ")[4].startsWith(scratch.toString())) Host.run("umount", "-l", line.split(" ")[4]);
        try (var hierarchies = Files.list(Path.of("/sys/fs/cgroup"))) {
            for (Path hierarchy : hierarchies.toList())
                if (Files.isDirectory(hierarchy.resolve(cgroupParent)))
                    Host.run("find", hierarchy.resolve(cgroupParent).toString(), "-depth", "-type", "d", "-exec", "rmdir", "{}", ";");
        }
        for (Path path : absentBefore) Host.run("rm", "-rf", "--one-file-system", path.toString());
    }
}
