//! The program's memory allocator: the system's, except that on Linux the large blocks come
//! from 2 MiB transparent huge pages.
//!
//! A training step allocates and frees the same large blocks every step (the new parameters,
//! their gradients, the batch and the output, 0.3 to 0.8 MB each at the tutorial's sizes) and
//! walks RMSProp's state and the dataset's images. On 4 KiB pages that is hundreds of pages a
//! block, more than the processor's TLB holds, and each miss is a page walk (two nested ones in
//! a virtual machine): measured here, gathering a shuffled batch took 38-68 µs a step on 4 KiB
//! pages and 15 µs on huge pages, and the weight gradients' products 155-163 µs against
//! 181-197 (docs/results.md). Linux gives huge pages only where asked (`madvise`, the usual
//! `transparent_hugepage` setting), so:
//!
//! - blocks of [`POOLED_FROM`] to [`POOLED_UP_TO`] bytes come from a pool of huge-page chunks, in
//!   size classes of [`CLASS`] bytes; a freed block waits on its class's list for the next one of
//!   that class (never returned to the system: the step's blocks are the same every step);
//! - larger blocks (the dataset) get a huge-page mapping of their own, unmapped when freed;
//! - everything else, and everything on other systems, is the system allocator's.
//!
//! Where huge pages are off (`transparent_hugepage` set to `never`) the same blocks come on
//! ordinary pages, as fast as before.

use std::alloc::{GlobalAlloc, Layout, System};

/// The allocator; `main.rs` makes it the program's.
pub struct HugePages;

/// The smallest block taken from the pool.
pub const POOLED_FROM: usize = 256 << 10;
/// The largest block taken from the pool; larger ones get mappings of their own.
pub const POOLED_UP_TO: usize = 4 << 20;
/// The pool's size classes: each block is a whole number of these, and aligned to one.
pub const CLASS: usize = 64 << 10;

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::Mutex;

    use crate::memory::{CLASS, POOLED_UP_TO};

    /// A transparent huge page.
    pub const HUGE: usize = 2 << 20;
    /// How much the pool maps at a time.
    const CHUNK: usize = 8 << 20;
    const CLASSES: usize = POOLED_UP_TO / CLASS;

    /// Free blocks by class (the head of a list threaded through the blocks' first word, 0 for
    /// none), and what is left of the chunk being carved.
    struct Pool {
        free: [usize; CLASSES + 1],
        next: usize,
        end: usize,
    }

    static POOL: Mutex<Pool> = Mutex::new(Pool {
        free: [0; CLASSES + 1],
        next: 0,
        end: 0,
    });

    /// `len` bytes (a multiple of [`HUGE`]) at a huge page's boundary, asked to be backed by huge
    /// pages; null if the system has no memory to map.
    pub fn map(len: usize) -> *mut u8 {
        // SAFETY: an anonymous private mapping; only its slack around the aligned part is
        // unmapped again, and the advice covers the part this function returns.
        unsafe {
            let mapped = libc::mmap(
                std::ptr::null_mut(),
                len + HUGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if mapped == libc::MAP_FAILED {
                return std::ptr::null_mut();
            }
            let start = mapped as usize;
            let aligned = start.next_multiple_of(HUGE);
            if aligned > start {
                libc::munmap(mapped, aligned - start);
            }
            let tail = start + len + HUGE - (aligned + len);
            if tail > 0 {
                libc::munmap((aligned + len) as *mut libc::c_void, tail);
            }
            // Refused where huge pages are off: the mapping then stays on ordinary pages.
            libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
            aligned as *mut u8
        }
    }

    /// Unmaps what [`map`] returned for `len` bytes.
    ///
    /// # Safety
    /// `ptr` must come from `map(len)` and not be used again.
    pub unsafe fn unmap(ptr: *mut u8, len: usize) {
        // SAFETY: as the caller promises.
        unsafe { libc::munmap(ptr.cast(), len) };
    }

    /// A block of `class` classes from the pool; null if the system has no memory to map.
    pub fn take(class: usize) -> *mut u8 {
        let mut pool = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let head = pool.free[class];
        if head != 0 {
            // SAFETY: a block on the list holds the next one's address in its first word.
            pool.free[class] = unsafe { *(head as *const usize) };
            return head as *mut u8;
        }
        let len = class * CLASS;
        if pool.end - pool.next < len {
            // The rest of the chunk is left unused: at most a block's size, once a chunk.
            let chunk = map(CHUNK.max(len.next_multiple_of(HUGE)));
            if chunk.is_null() {
                return chunk;
            }
            pool.next = chunk as usize;
            pool.end = pool.next + CHUNK.max(len.next_multiple_of(HUGE));
        }
        let block = pool.next;
        pool.next += len;
        block as *mut u8
    }

    /// Puts a block of `class` classes back on its list.
    ///
    /// # Safety
    /// `ptr` must come from `take(class)` and not be used again.
    pub unsafe fn give(ptr: *mut u8, class: usize) {
        let mut pool = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // SAFETY: the block is ours again and at least a word long and aligned.
        unsafe { *(ptr as *mut usize) = pool.free[class] };
        pool.free[class] = ptr as usize;
    }
}

/// Where a block of `layout` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    System,
    /// The pool, in this many classes.
    Pool(usize),
    /// A mapping of its own, this long.
    Mapping(usize),
}

fn source(layout: Layout) -> Source {
    #[cfg(target_os = "linux")]
    if layout.align() <= CLASS && layout.size() >= POOLED_FROM {
        return if layout.size() <= POOLED_UP_TO {
            Source::Pool(layout.size().div_ceil(CLASS))
        } else {
            Source::Mapping(layout.size().next_multiple_of(linux::HUGE))
        };
    }
    let _ = layout;
    Source::System
}

// SAFETY: every block is valid for its layout's size and aligned to it (pool blocks to
// CLASS, mappings to a huge page), and goes back where it came from: `source` routes a
// layout the same way at allocation and deallocation.
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match source(layout) {
            // SAFETY: the caller's layout, passed on.
            Source::System => unsafe { System.alloc(layout) },
            #[cfg(target_os = "linux")]
            Source::Pool(class) => linux::take(class),
            #[cfg(target_os = "linux")]
            Source::Mapping(len) => linux::map(len),
            #[cfg(not(target_os = "linux"))]
            _ => unreachable!("only the system allocator off Linux"),
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match source(layout) {
            // SAFETY: the caller's layout, passed on.
            Source::System => unsafe { System.alloc_zeroed(layout) },
            // A new mapping is zeroed already.
            #[cfg(target_os = "linux")]
            Source::Mapping(len) => linux::map(len),
            _ => {
                // SAFETY: the caller's layout; the block is `layout.size()` bytes long.
                let block = unsafe { self.alloc(layout) };
                if !block.is_null() {
                    unsafe { block.write_bytes(0, layout.size()) };
                }
                block
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match source(layout) {
            // SAFETY: the system allocated it, for this layout.
            Source::System => unsafe { System.dealloc(ptr, layout) },
            // SAFETY: allocated by the same route for the same layout.
            #[cfg(target_os = "linux")]
            Source::Pool(class) => unsafe { linux::give(ptr, class) },
            #[cfg(target_os = "linux")]
            Source::Mapping(len) => unsafe { linux::unmap(ptr, len) },
            #[cfg(not(target_os = "linux"))]
            _ => unreachable!("only the system allocator off Linux"),
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller promises a valid size for this alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let (old, new) = (source(layout), source(new_layout));
        if old == Source::System && new == Source::System {
            // SAFETY: as the caller promises; the system allocated it.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        if old == new {
            // The same class or mapping length: the block already fits.
            return ptr;
        }
        // SAFETY: a new block for the new layout, the old one's bytes copied as far as both
        // reach, then the old one freed by its own route.
        unsafe {
            let block = self.alloc(new_layout);
            if !block.is_null() {
                std::ptr::copy_nonoverlapping(ptr, block, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            block
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 64).expect("a layout")
    }

    /// The `AnonHugePages` of the mapping that holds `ptr`, in kB, from /proc/self/smaps.
    fn huge_kb_at(ptr: *const u8) -> usize {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        let at = ptr as usize;
        let mut inside = false;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((start, end)) = first.split_once('-')
                && let (Ok(start), Ok(end)) = (
                    usize::from_str_radix(start, 16),
                    usize::from_str_radix(end, 16),
                )
            {
                inside = (start..end).contains(&at);
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

    fn huge_pages_on() -> bool {
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .is_ok_and(|mode| !mode.contains("[never]"))
    }

    #[test]
    fn each_size_goes_its_own_way_and_comes_back_the_same() {
        assert_eq!(source(layout(POOLED_FROM - 1)), Source::System);
        assert_eq!(source(layout(POOLED_FROM)), Source::Pool(4));
        assert_eq!(source(layout(POOLED_UP_TO)), Source::Pool(64));
        assert_eq!(
            source(layout(POOLED_UP_TO + 1)),
            Source::Mapping(POOLED_UP_TO + linux::HUGE)
        );
        let over_aligned = Layout::from_size_align(POOLED_UP_TO, 2 * CLASS).expect("a layout");
        assert_eq!(source(over_aligned), Source::System);
    }

    #[test]
    fn a_freed_block_is_handed_out_again_for_its_class() {
        // A class no other test takes (they run side by side on the one pool).
        let size = 36 * CLASS + 5;
        // SAFETY: allocated and freed with one layout; the pointers are only compared.
        unsafe {
            let first = HugePages.alloc(layout(size));
            assert!(!first.is_null());
            assert_eq!(first as usize % CLASS, 0, "aligned to a class");
            first.write_bytes(7, size);
            let grown = HugePages.realloc(first, layout(size), 37 * CLASS);
            assert_eq!(grown, first, "grown within its class, in place");
            HugePages.dealloc(first, layout(37 * CLASS));
            let again = HugePages.alloc(layout(36 * CLASS + 1));
            assert_eq!(again, first, "the freed block again");
            let other = HugePages.alloc(layout(size));
            assert_ne!(other, again, "a second block while the first is taken");
            HugePages.dealloc(again, layout(size));
            HugePages.dealloc(other, layout(size));
        }
    }

    #[test]
    fn zeroed_and_reallocated_blocks_keep_their_promises() {
        // SAFETY: each block is used within its layout and freed with it.
        unsafe {
            for size in [POOLED_FROM, 5 * CLASS, POOLED_UP_TO + 1] {
                let dirty = HugePages.alloc(layout(size));
                dirty.write_bytes(0xAB, size);
                HugePages.dealloc(dirty, layout(size));
                let zeroed = HugePages.alloc_zeroed(layout(size));
                let bytes = std::slice::from_raw_parts(zeroed, size);
                assert!(bytes.iter().all(|&b| b == 0), "{size} bytes zeroed");
                HugePages.dealloc(zeroed, layout(size));
            }
            // Up through every route and down again, the bytes carried along.
            let fill = |block: *mut u8, len: usize| {
                let bytes = std::slice::from_raw_parts_mut(block, len);
                for (i, byte) in bytes.iter_mut().enumerate() {
                    *byte = (i % 251) as u8;
                }
            };
            let mut block = HugePages.alloc(layout(1000));
            let mut len = 1000;
            fill(block, len);
            for new_len in [POOLED_FROM + 1, POOLED_FROM + 2, 3 << 20, 9 << 20, 600, 100] {
                block = HugePages.realloc(block, layout(len), new_len);
                assert!(!block.is_null());
                let kept = std::slice::from_raw_parts(block, len.min(new_len));
                assert!(
                    kept.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8),
                    "{len} -> {new_len} bytes"
                );
                len = new_len;
                fill(block, len);
            }
            HugePages.dealloc(block, layout(len));
        }
    }

    #[test]
    fn large_blocks_are_on_huge_pages_where_the_system_has_them() {
        if !huge_pages_on() {
            return;
        }
        // SAFETY: each block is written within its layout and freed with it.
        unsafe {
            for size in [POOLED_UP_TO, 6 << 20] {
                let block = HugePages.alloc(layout(size));
                block.write_bytes(1, size);
                let huge = huge_kb_at(block);
                HugePages.dealloc(block, layout(size));
                assert!(huge >= 2048, "{size} bytes: {huge} kB on huge pages");
            }
        }
    }
}
