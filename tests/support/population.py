"""A synthetic population seen by three agencies, with the errors real records have.

Each person appears as a police record (name, birth date, driver licence, address, sometimes phone), a
hospital record (MRN, name, birth date, sex, address, phone) and an authority record (Medicaid id,
client id, name, birth date, sex, sometimes the driver licence). Records carry typos, nicknames,
swapped or mistyped birth dates, missing fields and moves, at rates set in :data:`RATES`.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Any

FAMILIES = [
    "Garcia",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Jimenez",
    "Powell",
    "Jenkins",
    "Perry",
    "Russell",
    "Sullivan",
    "Bell",
    "Coleman",
    "Butler",
    "Henderson",
    "Barnes",
    "Gonzales",
    "Fisher",
    "Vasquez",
    "Simmons",
    "Romero",
    "Jordan",
    "Patterson",
    "Alexander",
    "Hamilton",
    "Graham",
    "Reynolds",
    "Griffin",
    "Wallace",
    "Moreno",
    "West",
    "Cole",
    "Hayes",
    "Bryant",
    "Herrera",
    "Gibson",
    "Ellis",
    "Tran",
    "Medina",
    "Aguilar",
    "Stevens",
    "Murray",
    "Ford",
    "Castro",
    "Marshall",
    "Owens",
    "Harrison",
    "Fernandez",
    "Mcdonald",
    "Woods",
    "Washington",
    "Kennedy",
    "Wells",
    "Vargas",
    "Henry",
    "Chen",
    "Freeman",
    "Webb",
    "Tucker",
    "Guzman",
    "Burns",
    "Crawford",
    "Olson",
    "Simpson",
    "Porter",
    "Hunter",
    "Gordon",
    "Mendez",
    "Silva",
    "Shaw",
    "Snyder",
    "Mason",
    "Dixon",
    "Munoz",
    "Hunt",
    "Hicks",
    "Holmes",
    "Palmer",
    "Wagner",
    "Black",
    "Robertson",
    "Boyd",
    "Rose",
    "Stone",
    "Salazar",
    "Fox",
    "Warren",
    "Mills",
    "Meyer",
    "Rice",
    "Schmidt",
    "Garza",
    "Daniels",
    "Ferguson",
    "Nichols",
    "Stephens",
    "Soto",
    "Weaver",
    "Ryan",
    "Gardner",
    "Payne",
    "Grant",
    "Dunn",
    "Kelley",
    "Spencer",
    "Hawkins",
    "Arnold",
    "Pierce",
    "Vazquez",
    "Hansen",
    "Peters",
    "Santos",
    "Hart",
    "Bradley",
    "Knight",
]
GIVENS = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Christopher",
    "Karen",
    "Charles",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Margaret",
    "Mark",
    "Sandra",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Paul",
    "Emily",
    "Andrew",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Dorothy",
    "George",
    "Melissa",
    "Timothy",
    "Deborah",
    "Ronald",
    "Stephanie",
    "Edward",
    "Rebecca",
    "Jason",
    "Sharon",
    "Jeffrey",
    "Laura",
    "Ryan",
    "Cynthia",
    "Jacob",
    "Kathleen",
    "Gary",
    "Amy",
    "Nicholas",
    "Angela",
    "Eric",
    "Shirley",
    "Jonathan",
    "Anna",
    "Stephen",
    "Brenda",
    "Larry",
    "Pamela",
    "Justin",
    "Emma",
    "Scott",
    "Nicole",
    "Brandon",
    "Helen",
    "Benjamin",
    "Samantha",
    "Samuel",
    "Katherine",
    "Gregory",
    "Christine",
    "Alexander",
    "Debra",
    "Frank",
    "Rachel",
    "Patrick",
    "Carolyn",
    "Raymond",
    "Janet",
    "Jack",
    "Catherine",
    "Dennis",
    "Maria",
    "Jerry",
    "Heather",
    "Tyler",
    "Diane",
    "Aaron",
    "Ruth",
    "Jose",
    "Julie",
    "Adam",
    "Olivia",
    "Nathan",
    "Joyce",
    "Henry",
    "Virginia",
    "Douglas",
    "Victoria",
    "Zachary",
    "Kelly",
    "Peter",
    "Lauren",
    "Kyle",
    "Christina",
    "Ethan",
    "Joan",
    "Walter",
    "Evelyn",
    "Noah",
    "Judith",
    "Jeremy",
    "Megan",
    "Christian",
    "Andrea",
    "Keith",
    "Cheryl",
    "Roger",
    "Hannah",
    "Terry",
    "Jacqueline",
    "Gerald",
    "Martha",
]
NICK = {
    "William": "Bill",
    "Robert": "Bob",
    "James": "Jim",
    "Michael": "Mike",
    "Elizabeth": "Liz",
    "Thomas": "Tom",
    "Anthony": "Tony",
    "David": "Dave",
    "Daniel": "Dan",
    "Christopher": "Chris",
    "Joseph": "Joe",
    "Samuel": "Sam",
    "Katherine": "Kate",
    "Jennifer": "Jen",
    "Richard": "Rick",
    "Steven": "Steve",
    "Jonathan": "Jon",
    "Gregory": "Greg",
    "Margaret": "Peggy",
    "Matthew": "Matt",
    "Nicholas": "Nick",
    "Benjamin": "Ben",
    "Andrew": "Andy",
    "Alexander": "Alex",
}
STREETS = [
    "Polk",
    "Tyler",
    "Georgia",
    "Washington",
    "Western",
    "Bell",
    "Soncy",
    "Coulter",
    "Hillside",
    "Amarillo",
    "Plains",
    "Olsen",
    "Wolflin",
    "Parker",
    "Bowie",
    "Ross",
    "Mirror",
    "Grand",
    "Lakeside",
    "Osage",
]
RATES = {
    "typo": 0.15,
    "nickname": 0.10,
    "birth_error": 0.04,
    "birth_missing": 0.04,
    "moved": 0.10,
    "phone_missing": 0.35,
    "dl_at_bha": 0.30,
}


@dataclass(frozen=True)
class Person:
    pid: int
    given: str
    family: str
    birth: str
    sex: str
    phone: str
    street: str
    city: str
    postal: str
    dl: str


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "replace", "double"))
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "replace":
        return word[:i] + rng.choice(string.ascii_lowercase) + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def people(n: int, seed: int = 7) -> list[Person]:
    rng = random.Random(seed)
    out = []
    for pid in range(n):
        year, month, day = rng.randint(1940, 2010), rng.randint(1, 12), rng.randint(1, 28)
        out.append(
            Person(
                pid,
                rng.choice(GIVENS),
                rng.choice(FAMILIES),
                f"{year:04d}-{month:02d}-{day:02d}",
                rng.choice(("male", "female")),
                f"806{rng.randint(2000000, 9999999)}",
                f"{rng.randint(100, 9999)} {rng.choice(STREETS)} St",
                "Amarillo",
                rng.choice(("79101", "79102", "79106", "79107", "79109", "79110")),
                f"{rng.randint(10000000, 99999999)}",
            )
        )
    return out


def _noisy_birth(rng: random.Random, birth: str) -> str | None:
    roll = rng.random()
    if roll < RATES["birth_missing"]:
        return None
    if roll < RATES["birth_missing"] + RATES["birth_error"]:
        y, m, d = birth.split("-")
        if int(d) <= 12 and rng.random() < 0.5:
            return f"{y}-{d}-{m}"
        return f"{y}-{m}-{int(d) % 28 + 1:02d}"
    return birth


def _record(rng: random.Random, p: Person, agency: str) -> dict[str, Any]:
    given = NICK.get(p.given, p.given) if rng.random() < RATES["nickname"] else p.given
    family = _typo(rng, p.family) if rng.random() < RATES["typo"] else p.family
    street = (
        f"{rng.randint(100, 9999)} {rng.choice(STREETS)} Ave"
        if rng.random() < RATES["moved"]
        else p.street
    )
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"family": family, "given": [given]}],
    }
    birth = _noisy_birth(rng, p.birth)
    if birth:
        patient["birthDate"] = birth
    ids = []
    if agency == "police":
        ids.append(
            {"system": "urn:gateway:id:tx-dl", "value": p.dl, "type": {"coding": [{"code": "DL"}]}}
        )
    elif agency == "hospital":
        ids.append(
            {
                "system": "urn:gateway:id:panhandle-mrn",
                "value": f"MRN{p.pid:07d}",
                "type": {"coding": [{"code": "MR"}]},
            }
        )
        patient["gender"] = p.sex
    else:
        ids.append(
            {
                "system": "urn:gateway:id:tx-medicaid",
                "value": f"MA{p.pid:08d}",
                "type": {"coding": [{"code": "MA"}]},
            }
        )
        patient["gender"] = p.sex
        if rng.random() < RATES["dl_at_bha"]:
            ids.append(
                {
                    "system": "urn:gateway:id:tx-dl",
                    "value": p.dl,
                    "type": {"coding": [{"code": "DL"}]},
                }
            )
    patient["identifier"] = ids
    patient["address"] = [{"line": [street], "city": p.city, "postalCode": p.postal}]
    if rng.random() >= RATES["phone_missing"]:
        patient["telecom"] = [{"system": "phone", "value": p.phone}]
    return patient


def agency_records(
    population: list[Person], seed: int = 11
) -> list[tuple[int, str, dict[str, Any]]]:
    """(person id, agency, Patient) for every person at every agency."""
    rng = random.Random(seed)
    return [
        (p.pid, agency, _record(rng, p, agency))
        for p in population
        for agency in ("police", "hospital", "bha")
    ]
