package container;

import static container.Narration.*;

/** --user UID[:GID] (GID defaults to UID): whom the command runs as inside, once init is done. */
record User(long uid, long gid) {
    static User parse(String spec) {
        if (spec == null) return null;
        if (!spec.matches("\\d{1,10}(:\\d{1,10})?"))
            throw new StageFailure("--user " + spec + ": expected UID or UID:GID as numbers (the rootfs knows no names but root)");
        String[] ids = spec.split(":");
        return new User(Long.parseLong(ids[0]), Long.parseLong(ids[ids.length - 1]));
    }
}
