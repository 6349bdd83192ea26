//! Word lists for realistic-looking generated values.

pub const FIRST: &[&str] = &[
    "Jane", "John", "Maria", "Wei", "Aisha", "Lucas", "Sofia", "Omar", "Yuki", "Priya", "Noah",
    "Emma", "Mateo", "Chloe", "Ivan", "Fatima", "Liam", "Ana", "Kenji", "Zara",
];
pub const LAST: &[&str] = &[
    "Smith", "Garcia", "Chen", "Khan", "Silva", "Muller", "Rossi", "Kim", "Okafor", "Novak",
    "Brown", "Tanaka", "Dubois", "Haddad", "Larsen", "Patel",
];
pub const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.example",
    "acme.example",
];
pub const COLORS: &[&str] = &["red", "green", "blue", "purple", "orange", "teal", "black"];
pub const CITIES: &[(&str, &str, &str)] = &[
    ("San Francisco", "US", "CA"),
    ("New York", "US", "NY"),
    ("Campina Grande", "BR", "PB"),
    ("Hyderabad", "IN", "TG"),
    ("Kyiv", "UA", "30"),
    ("Berlin", "DE", "BE"),
    ("Tokyo", "JP", "13"),
    ("Lagos", "NG", "LA"),
];
pub const COUNTRY_NAMES: &[(&str, &str, &str)] = &[
    ("US", "United States", "1"),
    ("BR", "Brazil", "55"),
    ("IN", "India", "91"),
    ("UA", "Ukraine", "380"),
    ("DE", "Germany", "49"),
    ("JP", "Japan", "81"),
    ("NG", "Nigeria", "234"),
];
pub const ADJ: &[&str] = &[
    "Spring", "Summer", "Autumn", "Winter", "Flash", "Weekly", "VIP", "Welcome", "Holiday",
    "Loyalty", "Cart", "Launch",
];
pub const NOUN: &[&str] = &[
    "sale", "digest", "reminder", "offer", "update", "series", "drop", "promo", "recap", "alert",
];
pub const OPS: &[&str] = &[
    "ops@example.com",
    "marketing@example.com",
    "growth@example.com",
];
pub const EVENT_NAMES: &[&str] = &[
    "productViewed",
    "addToCart",
    "signup",
    "searched",
    "appOpened",
];
pub const SKUS: &[(&str, &str, f64, &str)] = &[
    ("A-1", "Runner", 20.0, "shoes"),
    ("A-2", "Trail Pro", 89.5, "shoes"),
    ("B-7", "Rain Jacket", 120.0, "outerwear"),
    ("C-3", "Wool Socks", 9.99, "accessories"),
    ("D-9", "Water Bottle", 15.25, "accessories"),
];
pub const USER_AGENTS: &[(&str, &str)] = &[
    (
        "Mozilla/5.0 (X11; CrOS x86_64 13729.72.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/89.0.4389.116 Safari/537.36",
        "Other",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0",
        "Linux",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
        "iPhone",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36",
        "Windows",
    ),
];
