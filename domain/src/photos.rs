//! Ticket photos: which image types are accepted (told by their bytes, never by the declared
//! type or the file name), how many and how large, who may add them at which stage of a
//! ticket, and the storage keys the bytes are kept under. Pure: the API stores the bytes.

use std::fmt;

use uuid::Uuid;

use crate::{
    people::{InvalidValue, string_enum},
    tickets::{Party, TicketState, TransitionError},
};

/// Photos one ticket may have in all, report and completion together.
pub const MAX_PHOTOS_PER_TICKET: usize = 9;

/// Largest photo accepted, in bytes (10 MiB).
pub const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;

/// Bytes [`ImageType::sniff`] needs to tell every accepted type apart (the ISO-BMFF `ftyp`
/// box of a HEIC file lists its brands within them).
pub const SNIFF_BYTES: usize = 64;

string_enum! {
    /// When in a ticket's life a photo was taken.
    PhotoStage {
        /// With the report: what is broken.
        Report = "report",
        /// With the finished work.
        Completion = "completion",
    }
}

/// An accepted image type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageType {
    /// JPEG (`FF D8 FF`).
    Jpeg,
    /// PNG (its 8-byte signature).
    Png,
    /// WebP (a RIFF container of `WEBP` with a `VP8` chunk).
    Webp,
    /// HEIC/HEIF (an ISO-BMFF `ftyp` box with a HEIF brand): what iPhones take.
    Heic,
}

/// `ftyp` brands of HEIF images and sequences.
const HEIF_BRANDS: &[&[u8; 4]] = &[
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
];

/// Generic HEIF brands: also used by AVIF, so they count only with a HEIF brand beside them.
const GENERIC_HEIF_BRANDS: &[&[u8; 4]] = &[b"mif1", b"msf1"];

impl ImageType {
    /// Every accepted type.
    pub const ALL: &'static [ImageType] = &[
        ImageType::Jpeg,
        ImageType::Png,
        ImageType::Webp,
        ImageType::Heic,
    ];

    /// The type the first bytes of a file announce, if it is one we accept. Give it at
    /// least [`SNIFF_BYTES`] bytes when the file has them.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Some(ImageType::Jpeg);
        }
        if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Some(ImageType::Png);
        }
        if head.len() >= 15 && &head[..4] == b"RIFF" && &head[8..15] == b"WEBPVP8" {
            return Some(ImageType::Webp);
        }
        if is_heif(head) {
            return Some(ImageType::Heic);
        }
        None
    }

    /// The media type it is stored and served with.
    pub fn content_type(self) -> &'static str {
        match self {
            ImageType::Jpeg => "image/jpeg",
            ImageType::Png => "image/png",
            ImageType::Webp => "image/webp",
            ImageType::Heic => "image/heic",
        }
    }

    /// The file extension of its storage key.
    pub fn extension(self) -> &'static str {
        match self {
            ImageType::Jpeg => "jpg",
            ImageType::Png => "png",
            ImageType::Webp => "webp",
            ImageType::Heic => "heic",
        }
    }

    fn from_extension(ext: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.extension() == ext)
    }
}

impl fmt::Display for ImageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.content_type())
    }
}

/// Whether `head` opens with an `ftyp` box whose major brand, or (for the generic `mif1`
/// and `msf1`) one of whose compatible brands, is a HEIF brand.
fn is_heif(head: &[u8]) -> bool {
    if head.len() < 12 || &head[4..8] != b"ftyp" {
        return false;
    }
    let brand = |at: usize| -> Option<&[u8; 4]> { head.get(at..at + 4)?.try_into().ok() };
    let Some(major) = brand(8) else {
        return false;
    };
    if HEIF_BRANDS.contains(&major) {
        return true;
    }
    if !GENERIC_HEIF_BRANDS.contains(&major) {
        return false;
    }
    // Compatible brands follow the minor version (bytes 12..16), up to the box's end.
    let box_end = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    (16..box_end.min(head.len()))
        .step_by(4)
        .filter_map(brand)
        .any(|b| HEIF_BRANDS.contains(&b))
}

/// The stage a photo added now by someone holding `parties` belongs to, or why they may not
/// add one: residents, the assignee, the front desk and managers may; a butler who holds no
/// other capacity may not (403). Closed and cancelled tickets take no photos; residents add
/// them only until work starts (409).
pub fn upload_stage(state: TicketState, parties: &[Party]) -> Result<PhotoStage, TransitionError> {
    const ACTION: &str = "add photos to";
    let may = |p: Party| parties.contains(&p);
    if !(may(Party::Resident) || may(Party::Assignee) || may(Party::Desk) || may(Party::Manager)) {
        return Err(TransitionError::NotAllowed { action: ACTION });
    }
    let wrong = Err(TransitionError::WrongState {
        action: ACTION,
        state,
    });
    if state.is_final() {
        return wrong;
    }
    // The assignee's capacity wins: a supervisor doing the work documents it like any
    // worker does.
    if may(Party::Assignee) {
        return Ok(match state {
            TicketState::Accepted | TicketState::OnSite => PhotoStage::Completion,
            _ => PhotoStage::Report,
        });
    }
    if may(Party::Desk) || may(Party::Manager) {
        return Ok(PhotoStage::Report);
    }
    match state {
        TicketState::Submitted | TicketState::Dispatched | TicketState::Accepted => {
            Ok(PhotoStage::Report)
        }
        _ => wrong,
    }
}

/// Where a photo's bytes are kept: `tickets/{ticket_id}/{photo_id}.{ext}`. Made from ids
/// only, never from what the uploader sent, so a key cannot leave the store's root.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhotoKey(String);

impl PhotoKey {
    /// The key of a new photo.
    pub fn new(ticket_id: Uuid, photo_id: Uuid, image: ImageType) -> Self {
        Self(format!(
            "tickets/{}/{}.{}",
            ticket_id.hyphenated(),
            photo_id.hyphenated(),
            image.extension()
        ))
    }

    /// A stored key, checked to have exactly the shape [`PhotoKey::new`] makes.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let bad = || InvalidValue(format!("`{raw}` is not a photo storage key"));
        let mut parts = raw.split('/');
        let (Some("tickets"), Some(ticket), Some(file), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let ticket_id = Uuid::try_parse(ticket).map_err(|_| bad())?;
        let (photo, ext) = file.split_once('.').ok_or_else(bad)?;
        let photo_id = Uuid::try_parse(photo).map_err(|_| bad())?;
        let image = ImageType::from_extension(ext).ok_or_else(bad)?;
        let key = Self::new(ticket_id, photo_id, image);
        // Only the canonical spelling (lower-case, hyphenated) names the same file.
        if key.0 == raw { Ok(key) } else { Err(bad()) }
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its `/`-separated segments: plain names, none of them `.` or `..`.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl fmt::Display for PhotoKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len();
        let mut b = (size as u32).to_be_bytes().to_vec();
        b.extend_from_slice(b"ftyp");
        b.extend_from_slice(major);
        b.extend_from_slice(&[0, 0, 0, 0]);
        for c in compatible {
            b.extend_from_slice(*c);
        }
        // The next box, so the head is longer than the ftyp box.
        b.extend_from_slice(b"\0\0\0\x08metaheic");
        b
    }

    #[test]
    fn sniffs_each_accepted_type_by_its_bytes() {
        assert_eq!(
            ImageType::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(ImageType::Jpeg)
        );
        assert_eq!(
            ImageType::sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some(ImageType::Png)
        );
        assert_eq!(
            ImageType::sniff(b"RIFF\x24\0\0\0WEBPVP8L\x18\0\0\0"),
            Some(ImageType::Webp)
        );
        assert_eq!(
            ImageType::sniff(&ftyp(b"heic", &[b"mif1", b"heic"])),
            Some(ImageType::Heic)
        );
        assert_eq!(
            ImageType::sniff(&ftyp(b"mif1", &[b"mif1", b"heic"])),
            Some(ImageType::Heic)
        );
    }

    #[test]
    fn refuses_what_only_looks_like_an_image() {
        for head in [
            &b""[..],
            b"\xFF\xD8",
            b"hello, world",
            b"GIF89a\x01\0\x01\0",
            b"%PDF-1.7",
            b"RIFF\x24\0\0\0WAVEfmt ",
            b"\x89PNG\r\n",
        ] {
            assert_eq!(ImageType::sniff(head), None, "{head:?}");
        }
        // AVIF and MP4 share the container, not the brand.
        assert_eq!(ImageType::sniff(&ftyp(b"avif", &[b"mif1", b"avif"])), None);
        assert_eq!(ImageType::sniff(&ftyp(b"mif1", &[b"mif1", b"avif"])), None);
        assert_eq!(ImageType::sniff(&ftyp(b"isom", &[b"isom", b"mp41"])), None);
        // A HEIF brand in a later box is not a compatible brand.
        assert_eq!(ImageType::sniff(&ftyp(b"mif1", &[b"avif"])), None);
    }

    #[test]
    fn keys_are_made_from_ids_and_parse_back_only_in_that_shape() {
        let ticket = Uuid::now_v7();
        let photo = Uuid::now_v7();
        let key = PhotoKey::new(ticket, photo, ImageType::Webp);
        assert_eq!(key.as_str(), format!("tickets/{ticket}/{photo}.webp"));
        assert_eq!(PhotoKey::parse(key.as_str()), Ok(key.clone()));
        assert!(
            key.segments()
                .all(|s| !s.is_empty() && s != "." && s != "..")
        );
        for raw in [
            "".to_owned(),
            format!("tickets/{ticket}/../../etc/passwd"),
            format!("/tickets/{ticket}/{photo}.jpg"),
            format!("tickets/{ticket}/{photo}.exe"),
            format!("tickets/{ticket}/{photo}.jpg/x"),
            format!("tickets/{ticket}/{photo}"),
            format!("tickets/../{photo}.jpg"),
            format!("tickets/{}/{photo}.jpg", ticket.simple()),
            format!("tickets/{ticket}/{}.jpg", photo.to_string().to_uppercase()),
        ] {
            assert!(PhotoKey::parse(&raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn residents_add_report_photos_until_work_starts() {
        use TicketState::*;
        for state in [Submitted, Dispatched, Accepted] {
            assert_eq!(
                upload_stage(state, &[Party::Resident]),
                Ok(PhotoStage::Report)
            );
        }
        for state in [
            OnSite,
            Completed,
            AwaitingCallback,
            Reopened,
            Closed,
            Cancelled,
        ] {
            assert!(
                matches!(
                    upload_stage(state, &[Party::Resident]),
                    Err(TransitionError::WrongState { state: s, .. }) if s == state
                ),
                "{state}"
            );
        }
    }

    #[test]
    fn the_assignee_documents_the_work_and_the_office_the_report() {
        use TicketState::*;
        assert_eq!(
            upload_stage(OnSite, &[Party::Assignee]),
            Ok(PhotoStage::Completion)
        );
        assert_eq!(
            upload_stage(Accepted, &[Party::Assignee, Party::Manager]),
            Ok(PhotoStage::Completion)
        );
        assert_eq!(
            upload_stage(Dispatched, &[Party::Assignee]),
            Ok(PhotoStage::Report)
        );
        assert_eq!(upload_stage(OnSite, &[Party::Desk]), Ok(PhotoStage::Report));
        assert_eq!(
            upload_stage(Reopened, &[Party::Manager]),
            Ok(PhotoStage::Report)
        );
    }

    #[test]
    fn butlers_and_final_tickets_take_no_photos() {
        assert_eq!(
            upload_stage(TicketState::Submitted, &[Party::Butler]),
            Err(TransitionError::NotAllowed {
                action: "add photos to"
            })
        );
        assert_eq!(
            upload_stage(TicketState::Dispatched, &[]),
            Err(TransitionError::NotAllowed {
                action: "add photos to"
            })
        );
        for state in [TicketState::Closed, TicketState::Cancelled] {
            let refused = upload_stage(state, &[Party::Assignee, Party::Manager]);
            assert_eq!(
                refused,
                Err(TransitionError::WrongState {
                    action: "add photos to",
                    state
                })
            );
            assert_eq!(
                refused.map_err(|e| e.to_string()),
                Err(format!("cannot add photos to a ticket that is {state}"))
            );
        }
    }
}
