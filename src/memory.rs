//! Memory for data read at random: on 2 MiB transparent huge pages where the system gives them.
//!
//! A shuffled batch gathers its images from all over the dataset (47 MB of pixels for MNIST's
//! 60,000), 784 bytes an image. On 4 KiB pages nearly every image is a TLB miss, and each miss a
//! page walk (two nested ones in a virtual machine): measured on a 2-core Xeon VM, gathering a
//! batch of 100 took 38-68 µs on 4 KiB pages and 15 µs on huge pages, and the epoch about 2 %
//! less (docs/results.md). Linux gives huge pages only where asked (`madvise`, its usual
//! `transparent_hugepage` setting); where they are off, or on other systems, the memory is
//! ordinary, as fast as before.
//!
//! Only the dataset: the step's own arrays (parameters, gradients, batches) on huge pages, from
//! a pool in the program's allocator, gave no gain measured in ten alternating pairs.

use std::sync::Arc;

/// A transparent huge page (x86-64 and most 64-bit Linux systems).
#[cfg(target_os = "linux")]
const HUGE: usize = 2 << 20;

/// `bytes` copied into shared memory, on huge pages where the system gives them (Linux).
pub fn on_huge_pages(bytes: &[u8]) -> Arc<[u8]> {
    let mut shared = Arc::<[u8]>::new_uninit_slice(bytes.len());
    let slot = Arc::get_mut(&mut shared).expect("the only holder");
    #[cfg(target_os = "linux")]
    {
        // The whole huge pages inside the block, asked for before anything touches them.
        let start = (slot.as_ptr() as usize).next_multiple_of(HUGE);
        let end = (slot.as_ptr() as usize + slot.len()) / HUGE * HUGE;
        if end > start {
            // SAFETY: advice on memory this block owns; refused where huge pages are off.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        }
    }
    // SAFETY: `slot` is `bytes.len()` long and does not overlap `bytes`; every byte is then
    // written.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), slot.as_mut_ptr().cast(), bytes.len());
        shared.assume_init()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_holds_the_bytes() {
        for len in [0, 1, 4095, 5 << 20] {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            assert_eq!(&on_huge_pages(&bytes)[..], &bytes[..], "{len} bytes");
        }
    }

    /// The `AnonHugePages` of the mapping that holds `address`, in kB, from /proc/self/smaps.
    #[cfg(target_os = "linux")]
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
                return rest
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .unwrap_or(0);
            }
        }
        0
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_large_copy_is_on_huge_pages_where_the_system_has_them() {
        let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
        if !mode.is_ok_and(|mode| !mode.contains("[never]")) {
            return;
        }
        let bytes = vec![1u8; 16 << 20];
        let copy = on_huge_pages(&bytes);
        let middle = copy.as_ptr() as usize + copy.len() / 2;
        let huge = huge_kb_at(middle);
        assert!(huge >= 2048, "{huge} kB on huge pages");
    }
}
