"""The mini-shop's vocabulary: product types, attributes, synonyms and paraphrases.

For every word the *first* synonym is the one that training queries may use; the
others are held out for the validation and test splits, so a test ``synonym``
query never shares its swapped word with anything seen in training.
"""

from __future__ import annotations

__all__ = [
    "BRANDS",
    "COLOURS",
    "COMPLEMENTS",
    "DESCRIPTION_SENTENCES",
    "MATERIALS",
    "PARAPHRASE_TEMPLATES",
    "PRODUCT_TYPES",
    "SIZES",
    "STYLES",
    "TITLE_TEMPLATES",
]

# type: (category, synonyms, paraphrases, base price, materials)
PRODUCT_TYPES: dict[str, tuple[str, list[str], list[str], float, list[str]]] = {
    "sofa": ("seating", ["couch", "settee", "chesterfield"],
             ["somewhere for three to sit in the living room", "long padded seat for the lounge"],
             650, ["velvet", "leather", "linen", "wool"]),
    "armchair": ("seating", ["accent chair", "club chair", "wingback"],
                 ["single padded seat with arms", "cosy seat for one by the fire"],
                 320, ["velvet", "leather", "linen", "rattan"]),
    "ottoman": ("seating", ["footstool", "pouf", "hassock"],
                ["low padded seat to rest your feet", "place to put my feet up"],
                120, ["velvet", "leather", "wool", "rattan"]),
    "dining chair": ("dining", ["kitchen chair", "side chair", "parsons chair"],
                     ["seat to sit at the dinner table", "something to sit on while eating"],
                     110, ["wood", "metal", "rattan", "velvet"]),
    "bar stool": ("dining", ["counter stool", "breakfast stool", "high stool"],
                  ["tall seat for the kitchen island", "seat for a breakfast bar"],
                  90, ["wood", "metal", "rattan", "leather"]),
    "dining table": ("dining", ["kitchen table", "dinner table", "refectory table"],
                     ["somewhere for the family to eat", "where six people have dinner"],
                     480, ["wood", "marble", "metal"]),
    "coffee table": ("living", ["cocktail table", "centre table", "tea table"],
                     ["low table in front of the sofa", "place to rest cups in the lounge"],
                     220, ["wood", "marble", "metal", "rattan"]),
    "desk": ("office", ["writing table", "workstation", "bureau"],
             ["somewhere to work from home", "table for a laptop and paperwork"],
             260, ["wood", "metal"]),
    "office chair": ("office", ["task chair", "swivel chair", "computer chair"],
                     ["seat for long hours at the computer", "ergonomic seat that rolls"],
                     180, ["leather", "metal", "linen"]),
    "bed": ("bedroom", ["bedframe", "bedstead", "divan"],
            ["somewhere to sleep", "frame to hold a mattress"],
            540, ["wood", "metal", "velvet", "linen"]),
    "wardrobe": ("bedroom", ["armoire", "closet", "clothes press"],
                 ["tall cabinet to hang clothes", "storage for shirts and coats"],
                 430, ["wood", "metal"]),
    "dresser": ("bedroom", ["chest of drawers", "tallboy", "commode"],
                ["furniture with drawers for clothes", "drawers for socks and jumpers"],
                300, ["wood", "metal", "rattan"]),
    "bookshelf": ("storage", ["bookcase", "shelving unit", "etagere"],
                  ["somewhere to keep my books", "open shelves for novels"],
                  190, ["wood", "metal"]),
    "sideboard": ("storage", ["buffet", "credenza", "console cabinet"],
                  ["low cupboard for the dining room", "cabinet for plates and glasses"],
                  390, ["wood", "marble", "rattan"]),
    "rug": ("decor", ["carpet", "mat", "dhurrie"],
            ["soft covering for the floor", "something warm underfoot"],
            150, ["wool", "linen", "rattan"]),
    "lamp": ("lighting", ["light", "luminaire", "sconce"],
             ["something to light a reading corner", "thing that brightens a dark room"],
             70, ["metal", "marble", "rattan", "linen"]),
    "cushion": ("textile", ["pillow", "bolster", "scatter pillow"],
                ["soft square to lean on", "padding to make the couch comfier"],
                25, ["velvet", "linen", "wool", "leather"]),
    "curtain": ("textile", ["drape", "window panel", "portiere"],
                ["fabric to cover the window", "something to block the morning sun"],
                60, ["velvet", "linen", "wool"]),
    "throw": ("textile", ["blanket", "afghan", "coverlet"],
              ["cosy cover to wrap yourself with", "cover to keep warm on the sofa"],
              45, ["wool", "linen", "velvet"]),
    "mirror": ("decor", ["looking glass", "reflector", "cheval"],
               ["something to see yourself in", "reflective panel for the hallway"],
               95, ["wood", "metal", "rattan"]),
}

COLOURS: dict[str, list[str]] = {
    "red": ["crimson", "scarlet", "burgundy"],
    "blue": ["navy", "azure", "cobalt"],
    "green": ["olive", "emerald", "sage"],
    "grey": ["charcoal", "slate", "graphite"],
    "white": ["ivory", "snow", "alabaster"],
    "black": ["ebony", "onyx", "jet"],
    "brown": ["chocolate", "mocha", "umber"],
    "yellow": ["mustard", "golden", "lemon"],
    "pink": ["blush", "rose", "fuchsia"],
    "beige": ["sand", "oatmeal", "taupe"],
}

MATERIALS: dict[str, tuple[list[str], float]] = {
    "wood": (["timber", "wooden", "hardwood"], 1.0),
    "metal": (["steel", "iron", "wrought iron"], 0.9),
    "velvet": (["velour", "plush", "crushed velour"], 1.2),
    "leather": (["hide", "cowhide", "nappa"], 1.6),
    "linen": (["flax", "flaxen", "natural fibre"], 1.0),
    "wool": (["fleece", "merino", "tweed"], 1.3),
    "rattan": (["wicker", "cane", "woven palm"], 0.8),
    "marble": (["stone", "travertine", "granite"], 1.8),
}

STYLES: dict[str, list[str]] = {
    "modern": ["contemporary", "sleek", "current"],
    "rustic": ["farmhouse", "country", "cabin"],
    "scandinavian": ["nordic", "scandi", "danish"],
    "industrial": ["loft", "factory", "warehouse"],
    "vintage": ["retro", "antique", "old fashioned"],
    "minimalist": ["simple", "pared back", "understated"],
}

SIZES: dict[str, tuple[list[str], float]] = {
    "small": (["compact", "petite", "mini"], 0.75),
    "medium": (["standard", "regular", "midsize"], 1.0),
    "large": (["oversized", "big", "extra roomy"], 1.35),
}

BRANDS = [
    "Nordhaus", "Oakridge", "Luma", "Casa Verde", "Brightwell", "Marlow", "Fenwick",
    "Hollis", "Tamsin", "Corvo", "Ashgrove", "Bramble", "Kestrel", "Pellham",
]

# What shoppers tend to buy next (sofa -> cushion).
COMPLEMENTS: dict[str, list[str]] = {
    "sofa": ["cushion", "throw", "coffee table", "rug"],
    "armchair": ["cushion", "ottoman", "lamp", "throw"],
    "ottoman": ["armchair", "throw"],
    "dining table": ["dining chair", "sideboard", "lamp"],
    "dining chair": ["dining table", "cushion"],
    "bar stool": ["lamp", "cushion"],
    "coffee table": ["sofa", "rug", "lamp"],
    "desk": ["office chair", "lamp", "bookshelf"],
    "office chair": ["desk", "lamp"],
    "bed": ["cushion", "throw", "lamp", "dresser"],
    "wardrobe": ["mirror", "dresser"],
    "dresser": ["mirror", "lamp"],
    "bookshelf": ["lamp", "armchair"],
    "sideboard": ["mirror", "lamp", "dining table"],
    "rug": ["coffee table", "cushion"],
    "lamp": ["armchair", "rug"],
    "cushion": ["throw", "sofa"],
    "curtain": ["cushion", "rug"],
    "throw": ["cushion", "sofa"],
    "mirror": ["lamp", "sideboard"],
}

TITLE_TEMPLATES = [
    "{brand} {style} {colour} {material} {type}",
    "{colour} {material} {type}, {style} style",
    "{style} {type} in {colour} {material}",
    "{brand} {size} {colour} {type}",
    "{material} {type} - {colour}",
    "{size} {style} {type} by {brand}",
]

DESCRIPTION_SENTENCES = [
    "This {type} is made of {material} in a {colour} finish.",
    "A {style} piece that suits any home.",
    "Finished in {colour}, crafted from quality {material}.",
    "The {size} size fits most rooms.",
    "Its {style} design pairs well with {colour} accents.",
    "Easy to assemble and built to last.",
    "Designed by {brand} with a {style} look.",
    "A {size} {type} in {material}.",
    "Delivered flat-packed with all fittings.",
    "Many customers use this {type_syn} every day.",
]

PARAPHRASE_TEMPLATES = [
    "{paraphrase}",
    "{paraphrase} in {colour}",
    "{colour} {paraphrase}",
    "need {paraphrase}",
]
