//! A generational slab: every modelled kernel object (IRP, MDL, FILE_OBJECT, pool block, device)
//! lives in one, named by an index plus a generation. Freeing a slot bumps its generation, so a
//! stale name is detected by comparison, never by reading freed memory.

use std::vec::Vec;

/// The name of one slot at one generation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ObjId {
    pub index: u32,
    pub generation: u32,
}

impl core::fmt::Display for ObjId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "#{}.{}", self.index, self.generation)
    }
}

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Slots are reused, but each reuse carries a new generation, which is what the checks compare.
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    pub fn insert(&mut self, value: T) -> ObjId {
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.value = Some(value);
            return ObjId {
                index,
                generation: slot.generation,
            };
        }
        let index = self.slots.len() as u32;
        self.slots.push(Slot {
            generation: 1,
            value: Some(value),
        });
        ObjId {
            index,
            generation: 1,
        }
    }

    pub fn get(&self, id: ObjId) -> Option<&T> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation == id.generation {
            slot.value.as_ref()
        } else {
            None
        }
    }

    pub fn get_mut(&mut self, id: ObjId) -> Option<&mut T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation == id.generation {
            slot.value.as_mut()
        } else {
            None
        }
    }

    /// Frees the slot; the id (and every copy of it) is stale from now on.
    pub fn remove(&mut self, id: ObjId) -> Option<T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        Some(value)
    }

    pub fn iter(&self) -> impl Iterator<Item = (ObjId, &T)> {
        self.slots.iter().enumerate().filter_map(|(index, slot)| {
            let id = ObjId {
                index: index as u32,
                generation: slot.generation,
            };
            slot.value.as_ref().map(|value| (id, value))
        })
    }

    pub fn len(&self) -> usize {
        self.slots
            .iter()
            .filter(|slot| slot.value.is_some())
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
