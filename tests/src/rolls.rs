//! Generated household rolls for the benchmarks.

/// A roll of `households` households in buildings of 400 (4 units of 25 floors × 4 rooms),
/// 60–150 m² each, with an owner whose phone is `139` and the household's index.
pub fn roll(households: usize) -> String {
    let mut csv = String::from("building,unit,room,floor,area_m2,name,phone,role\n");
    for i in 0..households {
        let building = i / 400 + 1;
        let unit = (i / 100) % 4 + 1;
        let floor = (i % 100) / 4 + 1;
        let room = floor * 100 + i % 4 + 1;
        csv.push_str(&format!(
            "{building}栋,{unit}单元,{room},{floor},{}.{:02},住户{i},139{i:08},owner\n",
            60 + i % 90,
            i % 100,
        ));
    }
    csv
}
