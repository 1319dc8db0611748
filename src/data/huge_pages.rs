//! The training images moved onto 2 MiB huge pages, where the system can (Linux).
//!
//! A shuffled batch gathers its images from all over the dataset (47 MB of pixels for MNIST's
//! 60,000), 784 bytes an image: on 4 KiB pages nearly every image is a TLB miss and a page walk
//! (two nested ones in a virtual machine). Measured on a 2-core Xeon VM (docs/results.md),
//! gathering a batch of 100 took 165-320 µs in a slow spell of the machine and 64-73 µs once the
//! images were on huge pages; the epoch took 0.79-0.96 of its time in 16 alternating pairs.
//!
//! The pages are collapsed in place (`madvise(MADV_COLLAPSE)`, Linux 6.1 on) once the data is
//! read, rather than the data read into memory asked to be huge: in a virtual machine a fresh
//! huge page is faulted in by the host, which made reading the data take up to 0.7 s when it
//! was asked for during the read. A collapse costs the same faults, but as a step of its own
//! that the program times and prints. Where the system refuses (huge pages off, an older kernel,
//! no memory to spare), the images stay where they are, as fast as before.

/// A transparent huge page (x86-64 and most 64-bit Linux systems).
#[cfg(target_os = "linux")]
const HUGE: usize = 2 << 20;

/// Moves the whole huge pages inside `bytes` onto huge pages, in place (the bytes do not
/// change); returns how many bytes are now on huge pages (0 where the system refused).
pub(crate) fn collapse(bytes: &[u8]) -> usize {
    #[cfg(target_os = "linux")]
    {
        let start = (bytes.as_ptr() as usize).next_multiple_of(HUGE);
        let end = (bytes.as_ptr() as usize + bytes.len()) / HUGE * HUGE;
        // One page at a time: a page refused (no huge page free) leaves the others to try.
        (start..end)
            .step_by(HUGE)
            .filter(|&page| {
                // SAFETY: advice on whole pages inside `bytes`, which this process owns; a
                // collapse keeps their contents, and no other thread writes them.
                unsafe { libc::madvise(page as *mut libc::c_void, HUGE, libc::MADV_COLLAPSE) == 0 }
            })
            .count()
            * HUGE
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = bytes;
        0
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The `AnonHugePages` of the mapping that holds `address`, in kB, from /proc/self/smaps.
    fn huge_kb_at(address: usize) -> usize {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        let mut inside = false;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((start, end)) = first.split_once('-')
                && let (Ok(start), Ok(end)) = (
                    usize::from_str_radix(start, 16),
                    usize::from_str_radix(end, 16),
                )
            {
                inside = (start..end).contains(&address);
            } else if inside && let Some(rest) = line.strip_prefix("AnonHugePages:") {
                let kb = rest.trim().trim_end_matches("kB").trim();
                return kb.parse().unwrap_or(0);
            }
        }
        0
    }

    #[test]
    fn the_whole_pages_inside_go_onto_huge_pages_and_the_bytes_stay() {
        let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .expect("a Linux with transparent huge pages");
        assert!(!mode.contains("[never]"), "huge pages are off here: {mode}");
        // 9 MiB from an odd start: 3 whole huge pages inside at least, 4 at most.
        let block: Vec<u8> = (0..9usize << 20).map(|i| (i % 251) as u8).collect();
        let bytes = &block[1..];
        let moved = collapse(bytes);
        assert!(
            (3 * HUGE..=4 * HUGE).contains(&moved),
            "{moved} bytes moved"
        );
        let middle = bytes.as_ptr() as usize + bytes.len() / 2;
        assert!(
            huge_kb_at(middle) >= moved / 1024,
            "{} kB",
            huge_kb_at(middle)
        );
        assert!(
            bytes
                .iter()
                .enumerate()
                .all(|(i, &b)| b == ((i + 1) % 251) as u8)
        );
    }

    #[test]
    fn less_than_a_whole_huge_page_moves_nothing() {
        let block = vec![7u8; HUGE];
        assert_eq!(collapse(&block[1..]), 0);
        assert_eq!(collapse(&[]), 0);
    }
}
