"""Small hand-written listings for tests (written for this project; no shared data)."""

from __future__ import annotations

LISTINGS: dict[str, list[str]] = {
    "drugs": [
        "5g MDMA crystal 84% pure", "Xanax 2mg bars x100 free shipping", "1kg methylone rocks",
        "Cocaine 1g 90% straight from the brick", "Bubba Kush 1oz indoor hydro",
        "LSD blotters 200ug x10", "Oxycodone 30mg x50 pills", "Ketamine 5g crystal shards",
        "Heroin no4 1g", "Amphetamine speed paste 10g", "Psilocybin mushrooms 28g",
        "Testosterone enanthate 10ml 250mg", "Hash moroccan 10g", "DMT crystal 1g",
    ],
    "weapons": [
        "Glock 19 with 2 mags", "9mm ammo x50 rounds", "auto sear kit full auto",
        "AK-47 rifle untraceable", "Beretta 92 pistol with silencer", "Taser stun gun 5M volt",
        "Colt 45 handgun plus ammunition", "Ruger 22 rifle scope", "Smith Wesson revolver 38",
        "Brass knuckle duster from stealth vendor", "M4 carbine lower receiver",
        "hand grenade replica live", "shotgun shells 12 gauge x25", "Walther P22 with 2 mags",
    ],
    "counterfeit": [
        "Rolex Submariner AAA replica", "50 EUR notes x20 counterfeit", "UK driving licence PSD "
        "template", "fake US passport scan", "Louis Vuitton replica handbag",
        "counterfeit 20 USD bills pack", "Omega Seamaster replica 1:1", "fake ID card any state",
        "replica Gucci belt", "forged diploma any university", "Canada Goose jacket replica",
        "fake 100 dollar bills high quality", "Ray Ban replica sunglasses",
        "novelty driver license",
    ],
    "stolen_data": [
        "Netflix premium account lifetime", "US fullz with SSN DOB", "track 1/2 dumps with pin",
        "CVV cards fresh USA", "PayPal verified account with balance", "Spotify premium logins",
        "bank login with 10k balance", "UK fullz with bank details", "Amazon account with "
        "cards", "hacked email database 1M", "SSN lookup DOB PII", "HBO Max account 1 year",
        "Chase bank drop account", "CC dumps 101 fresh",
    ],
    "benign": [
        "Apple iPhone 12 phone case black", "stainless steel kitchen knife set",
        "Casio men's digital watch", "vitamin D3 1000 IU 120 softgels", "Amazon gift card $50",
        "grass seed lawn mix 5kg", "herb grinder for kitchen spices", "water gun toy for kids",
        "prepaid SIM card starter pack", "whey protein isolate 2lb chocolate",
        "Nike running shoes size 10", "garden hose 50ft", "wireless mouse usb receiver",
        "cotton bath towel set",
    ],
}


def rows() -> list[tuple[str, str]]:
    """(title, label) pairs."""
    return [(title, label) for label, titles in LISTINGS.items() for title in titles]
