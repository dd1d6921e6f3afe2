"""bench/linkage: a generated French-style deduplication set with its ground
truth (deterministic: the same seed and size give the same files).

    python frgen.py N OUT_DIR [--seed 9] [--communes IR_GEO_V.csv]

Writes OUT_DIR/fr{N}.csv (`id,nir,first_name,surname,birth_surname,sex,
birth_date,commune`, N rows, in random order) and OUT_DIR/fr{N}_truth.csv
(`id,person`: the person each record is about; the linkage tools never
see it).

Persons: French first names by sex and surnames with skewed frequencies
(embedded lists of common ones; most surnames come from a long tail of
generated French-like ones), born 1930-2020, living in a commune of the
real SNDS commune table (IR_GEO_V: a commune is its département (3
characters) and its code (3), and belongs to an employment basin), with a
NIR (sex, year and month of birth, birth département and commune, order,
key = 97 - the 13 digits mod 97). Households: couples (the wife's usual
surname is her husband's; her birth surname stays hers), their children in
the same commune, twins (two persons with the same surname, birth date and
commune, consecutive NIR orders, other first names: distinct persons).

Records: each person has 1 to 4 records (60 % one); the first is nearly
clean, the others carry errors at the rates of `RATES` below (typos,
accents dropped or added, shortened compound first names, day and month
swapped, one-digit date typos, missing values, married or birth surname,
moved communes, NIR typos). See bench/linkage/README.md.
"""
import argparse
import bisect
import csv
import itertools
import re
import random
import unicodedata
from pathlib import Path

# --- names -----------------------------------------------------------------

# Most frequent first (the weights are Zipf-Mandelbrot by rank).
MALE = """Jean Pierre Michel André Philippe Alain Bernard Jacques Daniel Patrick
Nicolas Christophe Christian Louis François Claude Éric Thomas Julien Gérard
Laurent Stéphane David Frédéric René Sébastien Pascal Marcel Dominique Paul
Roger Thierry Olivier Robert Henri Georges Serge Didier Maurice Joseph Yves
Vincent Guy Lucas Alexandre Bruno Antoine Maxime Raymond Jean-Pierre Hugo
Jean-Claude Franck Marc Gilles Jérôme Fabrice Romain Léo Gabriel Arthur
Jean-Luc Mathieu Lucien Guillaume Hervé Quentin Jean-Marie Roland Kevin
Cédric Emmanuel Raphaël Anthony Benjamin Jean-François Jean-Paul Florian
Clément Jean-Louis Jordan Jonathan Ludovic Arnaud Jérémy Damien Régis Benoît
Grégory Michaël Denis Charles Adrien Enzo Louis-Marie Xavier Hubert Fernand
Étienne Alexis Lionel Mickaël Vivien Samuel Loïc Baptiste Théo Tom Nathan
Noah Jules Mathis Matteo Ethan Valentin Victor Rémi Simon Pierre-Yves Yann
Gaël Albert Émile Léon Gaston Armand Marius Félix Jean-Jacques Jean-Michel
Fabien Cyril Aurélien Bertrand Jean-Yves Mohamed Ahmed Karim Mehdi Rachid
Youssef Sylvain Bastien Corentin Dylan Axel Timothée Noé Sacha Martin Gabin
Aaron Mathéo Evan Raphaël Tristan Ludovic Hadrien Gilbert Marcel Edmond
Claude-Henri Jean-Baptiste Jean-Noël Jean-Marc Jean-Christophe Pierre-Louis
Marc-Antoine Jean-Philippe Lilian Morgan Steve Teddy Jimmy Johnny Ludovic
Patrice Joël Noël Gérald Norbert Roméo Gauthier Augustin Baptiste Célestin
Ambroise Honoré Firmin Aimé Abel Léandre Achille Ange Anatole Aristide
Auguste Basile Brice Camille Côme Eliott Elias Esteban Ewan Florent Gaëtan
Guilhem Ilyes Ismaël Jason Kylian Lenny Lorenzo Maël Malo Marin Mattéo
Maxence Mathys Nolan Oscar Pablo Paolo Rayan Robin Ruben Sami Soan Thibault
Thibaut Titouan Tony Yanis Yoann Yohan Zacharie Alban Amaury Anselme Barnabé
Benoît Boris Charly Christopher Constant Cyprien Dimitri Edgar Elie Elliot
Erwan Eugène Ferdinand Gildas Gonzague Grégoire Hippolyte Jacky Jocelyn
Josselin Killian Léonard Lucien Marceau Médéric Octave Pacôme Prosper Quentin
Renaud Rodolphe Sylvestre Tanguy Urbain Valère Virgile Wilfried Xavier
Yannick Yvon Yvan Zinedine""".split()

FEMALE = """Marie Nathalie Isabelle Sylvie Catherine Françoise Martine Christine
Monique Valérie Sandrine Nicole Sophie Stéphanie Véronique Jacqueline
Anne Céline Chantal Julie Aurélie Nadine Brigitte Émilie Madeleine Christiane
Jeanne Patricia Denise Hélène Laurence Corinne Sarah Danielle Camille Claire
Laura Marie-Thérèse Pauline Suzanne Léa Michèle Manon Annie Emma Chloé Simone
Élodie Caroline Josiane Marguerite Mélanie Odette Virginie Louise Marine
Colette Anne-Marie Audrey Agnès Yvette Florence Marie-Claire Karine Inès
Alice Lucie Charlotte Juliette Élise Clémence Jade Zoé Lina Louna Mathilde
Anaïs Amandine Sabrina Delphine Béatrice Danièle Éliane Geneviève Gisèle
Hélèna Henriette Irène Josette Liliane Lucienne Marcelle Marthe Paulette
Renée Thérèse Yvonne Germaine Raymonde Andrée Simone Ginette Arlette Huguette
Jocelyne Évelyne Maryse Muriel Myriam Pascale Patricia Régine Sylviane
Viviane Marie-Christine Marie-Hélène Marie-France Marie-José Marie-Paule
Anne-Sophie Marie-Laure Marie-Pierre Marie-Noëlle Sophie-Anne Laetitia
Cécile Fabienne Frédérique Gaëlle Hélène Jessica Justine Mélissa Morgane
Noémie Océane Ophélie Perrine Solène Vanessa Amélie Aurore Axelle Bérénice
Capucine Coralie Elsa Estelle Eva Fanny Gabrielle Héloïse Jennifer Joséphine
Jeanine Lise Lola Lou Maëlle Margaux Marion Maud Mégane Nina Noëlle Pénélope
Rose Salomé Sarah Sixtine Tiphaine Victoire Yasmine Zélie Adèle Agathe Albane
Alexandra Alexia Alicia Aline Alix Ambre Anastasia Angèle Angélique Annabelle
Apolline Ariane Armelle Astrid Bernadette Blanche Carole Cassandre Clara
Clarisse Claudine Constance Cyrielle Daphné Diane Dominique Édith Éléonore
Éloïse Emmanuelle Estelle Eugénie Faustine Flavie Flore Gwenaëlle Hortense
Ingrid Jacinthe Jasmine Joëlle Judith Julia Léna Léonie Lilou Line Lorraine
Lucille Ludivine Maëva Magali Maïlys Marjorie Maya Mireille Nadège Naïma
Nelly Nolwenn Olivia Paloma Patricia Rachel Rosalie Roxane Sabine Séverine
Sidonie Solange Soline Tatiana Valentine Victoria Violette Yolande Zoé
Fatima Khadija Aïcha Leïla Samia Nora""".split()


def dedup(names):
    seen, out = set(), []
    for n in names:
        if n not in seen:
            seen.add(n)
            out.append(n)
    return out


MALE, FEMALE = dedup(MALE), dedup(FEMALE)

SURNAMES = dedup("""Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau
Laurent Simon Michel Lefebvre Leroy Roux David Bertrand Morel Fournier Girard
Bonnet Dupont Lambert Fontaine Rousseau Vincent Muller Lefèvre Faure André
Mercier Blanc Guérin Boyer Garnier Chevalier François Legrand Gauthier Garcia
Perrin Robin Clément Morin Nicolas Henry Roussel Mathieu Gautier Masson
Marchand Duval Denis Dumont Marie Lemaire Noël Meyer Dufour Meunier Brun
Blanchard Giraud Joly Rivière Lucas Brunet Gaillard Barbier Arnaud Martinez
Gérard Roche Renard Schmitt Roy Leroux Colin Vidal Caron Picard Roger Fabre
Aubert Lemoine Renaud Dumas Lacroix Olivier Philippe Bourgeois Pierre Benoît
Rey Leclerc Payet Rolland Leclercq Guillaume Lecomte Lopez Jean Dupuy Guillot
Hubert Berger Carpentier Sanchez Dupuis Moulin Louis Deschamps Huet Vasseur
Perez Boucher Fleury Royer Klein Jacquet Adam Paris Poirier Marty Aubry Guyot
Carré Charles Renault Charpentier Ménard Maillard Baron Bertin Bailly Hervé
Schneider Fernandez Le Gall Collet Léger Bouvier Julien Prévost Millet Perrot
Daniel Le Roux Cousin Germain Breton Besson Langlois Rémy Le Goff Pelletier
Lévêque Perrier Leblanc Barré Lebrun Marchal Weber Mallet Hamon Boulanger
Jacob Monnier Michaud Rodriguez Guichard Gillet Étienne Grondin Poulain
Tessier Chevallier Collin Chauvin Da Silva Bouchet Gay Lemaître Bénard
Maréchal Humbert Reynaud Antoine Hoarau Perret Barthélemy Cordier Pichon
Lejeune Gilbert Lamy Delaunay Pasquier Carlier Laporte Buisson Briand
Leveque Bodin Ollivier Devaux Lebon Besnard Bousquet Hamel Leroi Navarro
Fabre Marechal Riviere Sauvage Benard Godard Tanguy Lebreton Jacques
Bertrand Texier Marion Joubert Laine Lacombe Blondel Guillon Delmas Gomez
Sauvage Rousset Lemonnier Weiss Paillard Labbé Cuvelier Camus Bataille Riou
Vallée Vallet Guibert Coulon Bailleul Pons Hebert Lagarde Maurice Leduc
Guillou Régnier Hardy Delattre Lamotte Aubin Raynaud Bigot Legros Levy
Riviere Barbe Teixeira Carpentier Raymond Bouvet Boutin Hue Mathis Chauvet
Hoareau Laurens Poulet Grenier Martineau Chartier Valentin Bouquet Gros
Cordonnier Jourdan Ferrand Dupré Lelièvre Mary Thibault Cros Lemarchand
Courtois Poulin Delorme Salmon Morvan Fleurot Leconte Pottier Marin Bonneau
Guillet Jolly Hamelin Delage Delahaye Barre Lecoq Brunel Bertin Rossi Hamon
Boulay Tournier Thierry Picot Prevost Roques Coste Ferreira Costa Pereira
Dos Santos Rodrigues Gonçalves Martins Lopes Fontaine Le Bihan Le Floch
Kerboul Le Corre Tanguy Quéré Jaouen Riou Cadiou Le Moal Guivarch Morvan
Lebrun Dubreuil Dumoulin Dumas Beaumont Carrière Chapuis Chabert Chevrier
Arnould Bourdon Clerc Couturier Fouquet Gallet Grandjean Guillemin Husson
Jacquot Laurent Lecointe Leblond Leclère Legendre Lemoine Maillet Marchal
Millot Moreau Naudin Pelletier Pineau Rault Renaud Rigaud Sabatier Tardy
Thiebaut Thiery Vasseur Verdier Vidal Villard Voisin Wagner Zimmermann
Bouvier Brunet Charrier Cheron Collignon Cornu Darras Deville Drouet
Dubost Duchêne Ducrocq Dufresne Durieux Esnault Favre Ferry Forestier
Foucher Galland Gaudin Gervais Gilles Girault Gosselin Grégoire Guérard
Guyon Hébert Houdin Jacquemin Jullien Lacoste Lafon Lagrange Lambertin
Lapierre Larcher Lasalle Lebeau Lefort Legay Lemercier Leriche Letellier
Lhomme Loiseau Lombard Mallard Manceau Marais Marchetti Martel Mauger
Ménager Merle Meslin Mignot Millet Monier Moreno Mouton Nicolle Normand
Pages Parent Pasquet Pelissier Perrier Petitjean Piquet Pinto Plantier
Poirot Prat Quentin Ragot Renou Ribeiro Richer Rivet Rocher Rolin Roullier
Sénéchal Simonet Soulier Teyssier Tissot Turpin Vaillant Verger Vial Viard
Vigneron Vincent""".replace("\n", " ").replace("Da Silva", "Da_Silva")
    .replace("Le Gall", "Le_Gall").replace("Le Roux", "Le_Roux").replace("Le Goff", "Le_Goff")
    .replace("Dos Santos", "Dos_Santos").replace("Le Bihan", "Le_Bihan").replace("Le Floch", "Le_Floch")
    .replace("Le Corre", "Le_Corre").replace("Le Moal", "Le_Moal").split())
SURNAMES = [s.replace("_", " ") for s in SURNAMES]

# The long tail: French-like surnames built from pieces (tens of thousands).
HEADS = """Beau Bel Bon Mont Ville Cha Gra Lam Dela Mar Ro Ber Fon Val Cour Pré Gui
Lor Bra Tri Bou Cas Des Fer Gal Jau Lan Mau Pey Ri Sau Ter Vau Bri Cal Dau Ful
Gou Lab Mal Mé Pas Rav Sal Tho Ver Cha Ches Dor Gre La Le Ma Pon Roche Saint
Van Vil""".split()
MIDDLES = ["", "", "", "ch", "l", "r", "n", "v", "m", "t", "d", "qu", "g", "rn", "nt"]
TAILS = """ard ier eau in on et ot ault ois elle ache eux ès ac at ey y ou ant and
ière oux al aud ellier onnet ichon erie ade iaux illard ouze enne""".split()
TAIL_NAMES = dedup(h + m + t for h in dedup(HEADS) for m in MIDDLES for t in TAILS)

# --- error rates --------------------------------------------------------------

RATES = {
    "first_name_typo": 0.06,      # one edit: substitution, insertion, deletion, transposition
    "first_name_accent": 0.10,    # accents dropped (Hélène → Helene) or added (Helene → Hélène)
    "first_name_short": 0.25,     # a compound name shortened or unhyphenated (Jean-Pierre → Jean)
    "first_name_missing": 0.02,
    "surname_typo": 0.05,
    "surname_accent": 0.10,
    "surname_missing": 0.01,
    "birth_surname_typo": 0.03,
    "birth_surname_missing": 0.06,
    "married_name": 0.60,         # a married woman's record shows her husband's surname
    "date_swapped": 0.03,         # day and month exchanged (when a valid other date)
    "date_typo": 0.04,            # one digit wrong (a valid date still)
    "date_missing": 0.02,
    "sex_wrong": 0.005,
    "sex_missing": 0.01,
    "moved": 0.12,                # another commune: 45 % same basin, 35 % same département
    "commune_missing": 0.04,
    "nir_missing": 0.12,
    "nir_typo": 0.03,             # one digit wrong
}
# The first record of a person: nearly clean.
FIRST_RATES = {k: 0.0 for k in RATES} | {
    "married_name": RATES["married_name"], "first_name_missing": 0.005,
    "birth_surname_missing": 0.03, "commune_missing": 0.01, "nir_missing": 0.05,
}
RECORDS_PER_PERSON = ([1, 2, 3, 4], [60, 25, 10, 5])
TWIN_RATE = 0.015                  # births that are twins
COUPLE_RATE = 0.30                 # persons drawn as a couple (and children)

ACCENTS = {"a": "à", "e": "ééèê", "i": "ï", "o": "ô", "c": "ç"}
# Inhabitants (thousands) of the big cities.
BIG_CITIES = {k: v * 1000.0 for k, v in {
    "TOULOUSE": 500, "NICE": 340, "NANTES": 320, "STRASBOURG": 290, "MONTPELLIER": 300,
    "BORDEAUX": 260, "LILLE": 235, "RENNES": 220, "REIMS": 180, "LE HAVRE": 170,
    "ST ETIENNE": 173, "TOULON": 178, "GRENOBLE": 158, "DIJON": 159, "ANGERS": 157,
    "NIMES": 150, "VILLEURBANNE": 152, "CLERMONT FERRAND": 147, "LE MANS": 143,
    "AIX EN PROVENCE": 145, "BREST": 139, "TOURS": 136, "AMIENS": 134, "LIMOGES": 130,
}.items()}
KEYBOARD = "azertyuiopqsdfghjklmwxcvbn"


def zipf_cum(n, s=1.0, q=2.7):
    w = [1.0 / (r + q) ** s for r in range(1, n + 1)]
    return list(itertools.accumulate(w))


def strip_accents(s):
    return "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")


class Gen:
    def __init__(self, n, seed, communes_path):
        self.n = n
        self.rng = random.Random(seed)
        self.male_cum = zipf_cum(len(MALE), 1.0, 2.7)
        self.female_cum = zipf_cum(len(FEMALE), 1.0, 2.7)
        self.common_cum = zipf_cum(len(SURNAMES), 0.9, 12.0)
        self.tail_cum = zipf_cum(len(TAIL_NAMES), 0.6, 50.0)
        self.load_communes(communes_path)
        self.nirs = set()

    def load_communes(self, path):
        rows = []
        with open(path, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f, delimiter=";"):
                dpt, com, basin = r["GEO_DPT_COD"], r["GEO_COM_COD"], r["GEO_EMP_BAS"]
                # Metropolitan communes with a basin (no Corsica: its
                # départements are not numbers in a NIR).
                if not (dpt.isdigit() and 1 <= int(dpt) <= 95 and dpt != "020"):
                    continue
                if com in ("000", "999") or basin == "9999":
                    continue
                rows.append((dpt + com, basin, r["GEO_COM_LIB"]))
        rows.sort()
        # Communes have no population in the table: a log-normal size (one
        # unit, some 500 inhabitants), the big cities and the arrondissements
        # of Paris, Lyon and Marseille at about their population.
        r = random.Random(1)
        weights = []
        for code, basin, name in rows:
            w = r.lognormvariate(0.0, 1.6)
            if re.fullmatch(r"(PARIS|LYON|MARSEILLE) [0-9]+", name):
                w = 150.0
            elif name in BIG_CITIES:
                w = BIG_CITIES[name] / 500.0
            weights.append(w)
        self.communes = [c for c, _, _ in rows]
        self.commune_cum = list(itertools.accumulate(weights))
        self.basin = {c: b for c, b, _ in rows}
        self.by_basin, self.by_dpt = {}, {}
        for c, b, _ in rows:
            self.by_basin.setdefault(b, []).append(c)
            self.by_dpt.setdefault(c[:3], []).append(c)

    # -- drawing ----------------------------------------------------------------

    def pick(self, items, cum):
        return items[bisect.bisect(cum, self.rng.random() * cum[-1])]

    def commune(self):
        return self.pick(self.communes, self.commune_cum)

    def near(self, c):
        """Another commune: the same basin, the same département, or anywhere."""
        x = self.rng.random()
        pool = self.by_basin[self.basin[c]] if x < 0.45 else self.by_dpt[c[:3]] if x < 0.80 else None
        if pool is None or len(pool) < 2:
            return self.commune()
        while True:
            d = self.rng.choice(pool)
            if d != c:
                return d

    def first_name(self, sex, avoid=None):
        names, cum = (MALE, self.male_cum) if sex == "1" else (FEMALE, self.female_cum)
        while True:
            n = self.pick(names, cum)
            if n != avoid:
                return n

    def surname(self):
        if self.rng.random() < 0.30:
            return self.pick(SURNAMES, self.common_cum)
        return self.pick(TAIL_NAMES, self.tail_cum)

    def date(self, lo=1930, hi=2020):
        y = self.rng.randint(lo, hi)
        m = self.rng.randint(1, 12)
        d = self.rng.randint(1, 28 if m == 2 else 30 if m in (4, 6, 9, 11) else 31)
        return y, m, d

    def nir(self, sex, y, m, birthplace, order=None):
        while True:
            o = order if order is not None else self.rng.randint(1, 999)
            body = f"{sex}{y % 100:02d}{m:02d}{birthplace[1:3]}{birthplace[3:]}{o:03d}"
            if body not in self.nirs:
                self.nirs.add(body)
                return body + f"{97 - int(body) % 97:02d}", o
            order = None

    def person(self, sex, y, m, d, surname, commune, first=None, birthplace=None, order=None):
        if birthplace is None:
            x = self.rng.random()
            birthplace = commune if x < 0.4 else self.near(commune) if x < 0.7 else self.commune()
        nir, o = self.nir(sex, y, m, birthplace, order)
        return {
            "sex": sex, "date": f"{y:04d}-{m:02d}-{d:02d}", "first": first or self.first_name(sex),
            "surname": surname, "birth_surname": surname, "married": None, "commune": commune,
            "nir": nir, "birthplace": birthplace, "order": o,
        }

    def household(self):
        """Persons of one household: one person, or a couple and children
        (twins among them, or twins alone)."""
        rng = self.rng
        commune = self.commune()
        if rng.random() < COUPLE_RATE:
            y, m, d = self.date(1930, 1998)
            husband = self.person("1", y, m, d, self.surname(), commune)
            wy = max(1930, min(2000, y + rng.randint(-6, 4)))
            wife = self.person("2", wy, *self.date(wy, wy)[1:], self.surname(), commune)
            wife["married"] = husband["surname"]
            out = [husband, wife]
            for _ in range(rng.choice([0, 0, 1, 2, 3])):
                cy = wy + rng.randint(20, 40)
                if cy > 2020:
                    break
                out += self.births(husband["surname"], commune, cy)
            return out
        y = self.rng.randint(1930, 2020)
        return self.births(self.surname(), commune, y)

    def births(self, surname, commune, year):
        """One person born that year, or twins."""
        sex = self.rng.choice("12")
        _, m, d = self.date(year, year)
        p = self.person(sex, year, m, d, surname, commune)
        if self.rng.random() >= TWIN_RATE:
            return [p]
        sex2 = sex if self.rng.random() < 0.65 else ("2" if sex == "1" else "1")
        # Twins: nearly always other first names; a consecutive order
        # (another NIR, one digit and the key apart).
        first = self.first_name(sex2, avoid=p["first"]) if self.rng.random() < 0.97 else p["first"]
        order = p["order"] % 999 + 1
        twin = self.person(sex2, year, m, d, surname, commune, first=first,
                           birthplace=p["birthplace"], order=order)
        return [p, twin]

    # -- errors -----------------------------------------------------------------

    def typo(self, s):
        rng = self.rng
        if len(s) < 2:
            return s
        k = rng.randrange(4)
        i = rng.randrange(len(s))
        c = rng.choice(KEYBOARD)
        if s[i].isupper():
            c = c.upper()
        if k == 0:
            t = s[:i] + c + s[i + 1:]
        elif k == 1:
            t = s[:i] + c + s[i:]
        elif k == 2:
            t = s[:i] + s[i + 1:]
        else:
            i = min(i, len(s) - 2)
            t = s[:i] + s[i + 1] + s[i] + s[i + 2:]
        return t if t and t != s else s

    def accent(self, s):
        plain = strip_accents(s)
        if plain != s:
            return plain
        spots = [i for i, c in enumerate(s) if c in ACCENTS]
        if not spots:
            return s
        i = self.rng.choice(spots)
        return s[:i] + self.rng.choice(ACCENTS[s[i]]) + s[i + 1:]

    def shorten(self, s):
        if "-" not in s:
            return s
        return s.split("-")[0] if self.rng.random() < 0.6 else s.replace("-", " ")

    def date_typo(self, s):
        while True:
            i = self.rng.choice([2, 3, 5, 6, 8, 9])
            t = s[:i] + str(self.rng.randrange(10)) + s[i + 1:]
            y, m, d = int(t[:4]), int(t[5:7]), int(t[8:])
            if t != s and 1 <= m <= 12 and 1 <= d <= (28 if m == 2 else 30 if m in (4, 6, 9, 11) else 31):
                return t

    def record(self, p, rates):
        rng = self.rng
        hit = lambda k: rng.random() < rates[k]
        first = p["first"]
        if hit("first_name_short"):
            first = self.shorten(first)
        if hit("first_name_accent"):
            first = self.accent(first)
        if hit("first_name_typo"):
            first = self.typo(first)
        if hit("first_name_missing"):
            first = ""
        surname = p["married"] if p["married"] and hit("married_name") else p["surname"]
        if hit("surname_accent"):
            surname = self.accent(surname)
        if hit("surname_typo"):
            surname = self.typo(surname)
        if hit("surname_missing"):
            surname = ""
        birth = p["birth_surname"]
        if hit("birth_surname_typo"):
            birth = self.typo(birth)
        if hit("birth_surname_missing"):
            birth = ""
        date = p["date"]
        if hit("date_swapped") and int(date[8:]) <= 12 and date[8:] != date[5:7]:
            date = date[:5] + date[8:] + "-" + date[5:7]
        elif hit("date_typo"):
            date = self.date_typo(date)
        if hit("date_missing"):
            date = ""
        sex = p["sex"]
        if hit("sex_wrong"):
            sex = "2" if sex == "1" else "1"
        if hit("sex_missing"):
            sex = ""
        commune = self.near(p["commune"]) if hit("moved") else p["commune"]
        if hit("commune_missing"):
            commune = ""
        nir = p["nir"]
        if hit("nir_typo"):
            i = rng.randrange(15)
            nir = nir[:i] + str((int(nir[i]) + rng.randint(1, 9)) % 10) + nir[i + 1:]
        if hit("nir_missing"):
            nir = ""
        return [nir, first, surname, birth, sex, date, commune]

    def generate(self):
        rows = []
        person = 0
        while len(rows) < self.n:
            for p in self.household():
                k = self.rng.choices(*RECORDS_PER_PERSON)[0]
                k = min(k, self.n - len(rows))
                for r in range(k):
                    rows.append((person, self.record(p, FIRST_RATES if r == 0 else RATES)))
                person += 1
                if len(rows) >= self.n:
                    break
        self.rng.shuffle(rows)
        return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=9)
    here = Path(__file__).resolve().parent
    default = here.parent.parent / "crates/hdh-refdata/data/IR_GEO_V.csv"
    ap.add_argument("--communes", type=Path, default=default)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    rows = Gen(a.n, a.seed, a.communes).generate()
    name = f"fr{a.n}"
    with open(a.out / f"{name}.csv", "w", newline="", encoding="utf-8") as f, \
         open(a.out / f"{name}_truth.csv", "w", newline="", encoding="utf-8") as t:
        w, tw = csv.writer(f), csv.writer(t)
        w.writerow(["id", "nir", "first_name", "surname", "birth_surname", "sex", "birth_date", "commune"])
        tw.writerow(["id", "person"])
        for i, (person, rec) in enumerate(rows):
            w.writerow([i + 1] + rec)
            tw.writerow([i + 1, person])


if __name__ == "__main__":
    main()
