//! Disk usage per real mount (`/proc/self/mounts` + `statvfs`) and I/O rates per whole block
//! device (`/proc/diskstats`).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::{Point, field, pct, rate};

/// File system types that hold no user data (kernel views, memory-backed, containers'
/// plumbing); their "usage" is noise. Anything else with a non-zero size is reported.
const PSEUDO_FS: &[&str] = &[
    "proc",
    "sysfs",
    "tmpfs",
    "devtmpfs",
    "devpts",
    "cgroup",
    "cgroup2",
    "securityfs",
    "pstore",
    "bpf",
    "debugfs",
    "tracefs",
    "mqueue",
    "hugetlbfs",
    "configfs",
    "fusectl",
    "autofs",
    "binfmt_misc",
    "rpc_pipefs",
    "nsfs",
    "ramfs",
    "efivarfs",
    "selinuxfs",
    "squashfs",
    "fuse.lxcfs",
    "fuse.gvfsd-fuse",
    "fuse.portal",
    "nfsd",
    "rootfs",
];

/// Sectors in `/proc/diskstats` are always 512 bytes, whatever the device's block size.
const SECTOR_BYTES: u64 = 512;

/// A mount worth reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The device (or source) mounted.
    pub device: String,
    /// Where it is mounted, with `\040`-style escapes decoded.
    pub mount_point: String,
}

/// Decodes the octal escapes (`\040` for a space) the kernel writes in `/proc/self/mounts`.
fn unescape(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Some(v) =
                std::str::from_utf8(&b[i + 1..i + 4]).ok().and_then(|d| u8::from_str_radix(d, 8).ok())
        {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The real mounts of `/proc/self/mounts`: pseudo file systems skipped, and a device mounted
/// several times (bind mounts) reported once, at its first mount point.
pub fn real_mounts(text: &str) -> Vec<Mount> {
    let mut seen = HashSet::new();
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_ascii_whitespace();
            let (device, mount_point, fstype) = (f.next()?, f.next()?, f.next()?);
            (!PSEUDO_FS.contains(&fstype) && seen.insert(device.to_owned()))
                .then(|| Mount { device: unescape(device), mount_point: unescape(mount_point) })
        })
        .collect()
}

/// Pushes `system.disk.used_pct` and `system.disk.free_bytes` (tag `mount`) for every real
/// mount whose `statvfs` succeeds and reports a non-zero size. Percentages follow `df`:
/// used / (used + available to unprivileged users).
pub fn collect_usage(mounts: &str, out: &mut Vec<Point>) {
    for m in real_mounts(mounts) {
        let Ok(st) = rustix::fs::statvfs(m.mount_point.as_str()) else { continue };
        let frsize = st.f_frsize;
        let used = st.f_blocks.saturating_sub(st.f_bfree) * frsize;
        let avail = st.f_bavail * frsize;
        if st.f_blocks == 0 {
            continue;
        }
        out.push(Point::tagged(
            "system.disk.used_pct",
            pct(used as f64, (used + avail) as f64),
            "mount",
            &m.mount_point,
        ));
        out.push(Point::tagged("system.disk.free_bytes", avail as f64, "mount", m.mount_point));
    }
}

/// Whether a `/proc/diskstats` name is a whole disk worth reporting: not a loop, RAM or
/// optical device, and not a partition of another listed device (`sda1`, `nvme0n1p2`).
fn is_whole_disk(name: &str, all: &HashSet<&str>) -> bool {
    const SKIP: &[&str] = &["loop", "ram", "zram", "sr", "fd"];
    if SKIP.iter().any(|p| name.starts_with(p)) {
        return false;
    }
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if base.len() == name.len() {
        return true;
    }
    let parent = base.strip_suffix('p').filter(|p| all.contains(p)).unwrap_or(base);
    !all.contains(parent)
}

/// Previous `(sectors read, sectors written)` per device and when they were read.
#[derive(Debug, Default)]
pub struct DiskIoState {
    prev: HashMap<String, (u64, u64)>,
    at: Option<Instant>,
}

impl DiskIoState {
    /// Reads `/proc/diskstats` text and pushes `system.disk.{read,write}_bytes_per_s`
    /// (tag `device`) for whole disks. Emits nothing on the first call.
    pub fn update(&mut self, text: &str, now: Instant, out: &mut Vec<Point>) {
        let secs = self.at.map(|t| now.duration_since(t).as_secs_f64()).unwrap_or(0.0);
        self.at = Some(now);
        let names: HashSet<&str> = text.lines().filter_map(|l| l.split_ascii_whitespace().nth(2)).collect();
        for line in text.lines() {
            let (Some(name), Some(read), Some(written)) =
                (line.split_ascii_whitespace().nth(2), field::<u64>(line, 5), field::<u64>(line, 9))
            else {
                continue;
            };
            if !is_whole_disk(name, &names) {
                continue;
            }
            if let Some((r0, w0)) = self.prev.insert(name.to_owned(), (read, written)) {
                if let Some(r) = rate(r0 * SECTOR_BYTES, read * SECTOR_BYTES, secs) {
                    out.push(Point::tagged("system.disk.read_bytes_per_s", r, "device", name));
                }
                if let Some(w) = rate(w0 * SECTOR_BYTES, written * SECTOR_BYTES, secs) {
                    out.push(Point::tagged("system.disk.write_bytes_per_s", w, "device", name));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const MOUNTS: &str = "proc /proc proc rw 0 0\n/dev/sda1 / ext4 rw 0 0\nsysfs /sys sysfs rw 0 0\n\
                          tmpfs /run tmpfs rw 0 0\n/dev/sda1 /var/lib/docker ext4 rw 0 0\n\
                          /dev/sdb1 /mnt/my\\040disk xfs rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n";

    #[test]
    fn pseudo_file_systems_and_bind_mounts_are_skipped() {
        let got: Vec<_> = real_mounts(MOUNTS).into_iter().map(|m| m.mount_point).collect();
        assert_eq!(got, vec!["/".to_owned(), "/mnt/my disk".to_owned()]);
    }

    #[test]
    fn usage_of_the_root_mount_is_reported_with_its_mount_tag() {
        let mut out = Vec::new();
        collect_usage("/dev/root / ext4 rw 0 0\n", &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].tags, vec![("mount", "/".to_owned())]);
        assert!((0.0..=100.0).contains(&out[0].value));
    }

    const STATS0: &str = "   8       0 sda 100 0 1000 0 50 0 2000 0 0 0 0\n   8       1 sda1 90 0 900 0 40 0 1900 0 0 0 0\n\
                          259 0 nvme0n1 10 0 100 0 10 0 100 0 0 0 0\n259 1 nvme0n1p1 5 0 50 0 5 0 50 0 0 0 0\n\
                          7 0 loop0 1 0 8 0 0 0 0 0 0 0 0\n";
    const STATS1: &str = "   8       0 sda 200 0 3000 0 60 0 2400 0 0 0 0\n   8       1 sda1 90 0 900 0 40 0 1900 0 0 0 0\n\
                          259 0 nvme0n1 10 0 100 0 10 0 100 0 0 0 0\n259 1 nvme0n1p1 5 0 50 0 5 0 50 0 0 0 0\n\
                          7 0 loop0 9 0 80 0 0 0 0 0 0 0 0\n";

    #[test]
    fn disk_io_is_reported_in_bytes_per_second_for_whole_disks_only() {
        let (mut state, mut out, t0) = (DiskIoState::default(), Vec::new(), Instant::now());
        state.update(STATS0, t0, &mut out);
        assert!(out.is_empty());
        state.update(STATS1, t0 + Duration::from_secs(2), &mut out);
        let devices: HashSet<_> = out.iter().map(|p| p.tags[0].1.as_str()).collect();
        assert_eq!(devices, HashSet::from(["sda", "nvme0n1"]));
        let read = out.iter().find(|p| p.name == "system.disk.read_bytes_per_s" && p.tags[0].1 == "sda");
        assert_eq!(read.unwrap().value, 2000.0 * 512.0 / 2.0);
        let write = out.iter().find(|p| p.name == "system.disk.write_bytes_per_s" && p.tags[0].1 == "sda");
        assert_eq!(write.unwrap().value, 400.0 * 512.0 / 2.0);
    }

    #[test]
    fn device_mapper_and_nvme_namespaces_count_as_whole_disks() {
        let all = HashSet::from(["dm-0", "nvme0n1", "nvme0n1p1", "mmcblk0", "mmcblk0p1"]);
        assert!(is_whole_disk("dm-0", &all));
        assert!(is_whole_disk("nvme0n1", &all));
        assert!(is_whole_disk("mmcblk0", &all));
        assert!(!is_whole_disk("nvme0n1p1", &all));
        assert!(!is_whole_disk("mmcblk0p1", &all));
    }
}
